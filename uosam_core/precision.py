"""The image's edge strength, and the baseline-precision check: does refining put the class edges on
stronger image edges?

SAM's masks earn their changes by following the image's edges. When the refined labels' class edges
lie on image gradients no stronger than the baseline's own, the baseline is already as precise as SAM
can tell, and what the refinement changes is the classes' extent (a tree's canopy over the building
behind it, a road mask over the pavement), not the edges' precision: the image keeps its baseline.
Measured in docs/decisions/0021-baseline-precision-check.md.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from .config import PrecisionConfig

WORK_SIDE = 1024  # the edge map is made on the image scaled so that its longer side is at most this


@dataclass(frozen=True, eq=False)
class EdgeMap:
    """The image's colour-gradient magnitude over its mean, on the image scaled to at most
    :data:`WORK_SIDE` px on its longer side: ``values`` (h x w float16; 1.0 = an average pixel) and
    ``original_size`` (H, W) of the image it was made from."""

    values: np.ndarray
    original_size: tuple[int, int]

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, EdgeMap) and tuple(self.original_size) == tuple(other.original_size)
                and self.values.dtype == other.values.dtype and np.array_equal(self.values, other.values))

    __hash__ = None  # type: ignore[assignment] - a map of arrays is not hashable

    @classmethod
    def of(cls, image: np.ndarray) -> EdgeMap:
        """The edge map of an HxWx3 uint8 RGB image."""
        height, width = image.shape[:2]
        scale = WORK_SIDE / max(height, width)
        if scale < 1.0:
            image = cv2.resize(image, (max(1, round(width * scale)), max(1, round(height * scale))),
                               interpolation=cv2.INTER_AREA)
        gradient = gradient_magnitude(image)
        return cls((gradient / max(float(gradient.mean()), 1e-6)).astype(np.float16), (height, width))

    def at_work_scale(self, labels: np.ndarray) -> np.ndarray:
        """An HxW label map (the image's size) at the map's size (nearest)."""
        if labels.shape == self.values.shape:
            return labels
        size = (self.values.shape[1], self.values.shape[0])
        return cv2.resize(labels.astype(np.int32), size, interpolation=cv2.INTER_NEAREST)

    def sample(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Values at image pixels (rows, cols) of the original image (nearest): (N,) float32."""
        height, width = self.original_size
        map_rows = np.minimum((rows * self.values.shape[0]) // height, self.values.shape[0] - 1)
        map_cols = np.minimum((cols * self.values.shape[1]) // width, self.values.shape[1] - 1)
        return self.values[map_rows, map_cols].astype(np.float32)


@dataclass(frozen=True)
class PrecisionCheck:
    """One image's check, made once on the automatic refinement.

    edge_gain: mean image-gradient magnitude along the refined labels' class edges over the mean
    along the baseline's; contrast_ratio: the same sums (edge length times strength) over each other,
    above 1 when the refinement adds edges rather than simplifying them; required: the gain asked for
    (``min_edge_gain``, or ``min_detail_edge_gain`` when the contrast ratio is above 1).
    moved_edge_gain: the mean gradient along the edges the refinement drew (refined edge pixels that
    are not baseline edge pixels) over the mean along those it removed; moved_length_ratio: the drawn
    edge length over the removed (at least ``redrawn_length_ratio``: the edges were redrawn, not
    simplified away, and the moved gain must reach ``moved_required``; else ``moved_required`` is None).
    passed: both gains reach their bars (or nothing changed: ``changed`` False). The measurements stay
    valid for other bars: :meth:`judged` applies new ones without refining again.
    """

    edge_gain: float
    contrast_ratio: float
    required: float
    passed: bool
    moved_edge_gain: float = 1.0
    moved_length_ratio: float = 0.0
    moved_required: float | None = None
    changed: bool = True

    def judged(self, config: PrecisionConfig) -> PrecisionCheck:
        """The same measurements held against ``config``'s bars."""
        if not self.changed:
            return replace(self, required=config.min_edge_gain, passed=True)
        required = config.min_detail_edge_gain if self.contrast_ratio > 1.0 else config.min_edge_gain
        redrawn = self.moved_length_ratio >= config.redrawn_length_ratio
        moved_required = config.min_moved_edge_gain if redrawn else None
        passed = self.edge_gain >= required and (moved_required is None or self.moved_edge_gain >= moved_required)
        return replace(self, required=required, moved_required=moved_required, passed=passed)

    def describe(self) -> str:
        """One line for the app and the logs."""
        verdict = "refined" if self.passed else "baseline kept"
        kind = "adds edges" if self.contrast_ratio > 1.0 else "simplifies edges"
        text = (f"{verdict}: refined edges {self.edge_gain:.3f}x as strong as the baseline's "
                f"(needed {self.required:.2f}; the refinement {kind})")
        if self.moved_required is not None:
            text += (f"; the redrawn edges {self.moved_edge_gain:.2f}x as strong as those they replace "
                     f"(needed {self.moved_required:.2f})")
        return text

    def failed_test(self) -> str | None:
        """Which bar a failed check missed: "edge_gain" (the whole image's), "moved_edge_gain" (the redrawn
        edges'), or None when it passed."""
        if self.passed:
            return None
        return "edge_gain" if self.edge_gain < self.required else "moved_edge_gain"

    def brief(self) -> str:
        """The figure that decided a failed check, for a status bar: "edges 0.95x" or "redrawn edges 1.41x"."""
        if self.failed_test() == "moved_edge_gain":
            return f"redrawn edges {_down(self.moved_edge_gain)}x"
        return f"edges {_down(self.edge_gain)}x"


def _down(value: float) -> str:
    """A gain with 2 decimals, rounded down: a gain just under its bar never reads as the bar."""
    return f"{np.floor(value * 100) / 100:.2f}"


def gradient_magnitude(image: np.ndarray) -> np.ndarray:
    """HxW float32 colour gradient magnitude of an HxWx3 uint8 RGB image (CIELAB, Gaussian sigma 1, Sobel)."""
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)
    lab = cv2.GaussianBlur(lab, (0, 0), 1.0)
    dx = cv2.Sobel(lab, cv2.CV_32F, 1, 0)
    dy = cv2.Sobel(lab, cv2.CV_32F, 0, 1)
    return np.sqrt((dx * dx + dy * dy).sum(axis=2))


def class_edges(labels: np.ndarray) -> np.ndarray:
    """HxW bool: pixels with a 4-neighbour of another class (both sides of every class edge)."""
    edges = np.zeros(labels.shape, bool)
    horizontal = labels[:, 1:] != labels[:, :-1]
    vertical = labels[1:, :] != labels[:-1, :]
    edges[:, 1:] |= horizontal
    edges[:, :-1] |= horizontal
    edges[1:, :] |= vertical
    edges[:-1, :] |= vertical
    return edges


def check_precision(edges: EdgeMap, baseline: np.ndarray, labels: np.ndarray, config: PrecisionConfig
                    ) -> PrecisionCheck:
    """The check of refined ``labels`` against ``baseline`` (HxW int) with the image's edge map.

    Images over :data:`WORK_SIDE` pixels on a side are checked at the map's size (memory stays bounded).
    """
    if np.array_equal(baseline, labels):
        return PrecisionCheck(1.0, 1.0, config.min_edge_gain, True, changed=False)
    baseline, labels = edges.at_work_scale(baseline), edges.at_work_scale(labels)
    gradient = edges.values.astype(np.float32)
    fallback = float(gradient.mean())  # edges that are not there: as if they lay on average pixels
    base_edges, refined_edges = class_edges(baseline), class_edges(labels)
    base_mean, base_total = _strength(gradient[base_edges], fallback)
    refined_mean, refined_total = _strength(gradient[refined_edges], fallback)
    gain = refined_mean / max(base_mean, 1e-6)
    contrast = refined_total / max(base_total, 1e-6)
    removed, drawn = base_edges & ~refined_edges, refined_edges & ~base_edges
    moved_gain = _strength(gradient[drawn], fallback)[0] / max(_strength(gradient[removed], fallback)[0], 1e-6)
    length_ratio = int(drawn.sum()) / max(int(removed.sum()), 1)
    measured = PrecisionCheck(round(gain, 4), round(contrast, 4), 0.0, False, round(moved_gain, 4),
                              round(length_ratio, 4))
    return measured.judged(config)


def _strength(values: np.ndarray, fallback: float) -> tuple[float, float]:
    """(mean, sum) of gradient values along some edge pixels; ``fallback`` for both when there are none."""
    return (float(values.mean()), float(values.sum())) if values.size else (fallback, fallback)

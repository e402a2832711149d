"""The image's edge strength, and the baseline-precision check: does refining put the class edges on
stronger image edges?

SAM's masks earn their changes by following the image's edges. When the refined labels' class edges
lie on image gradients no stronger than the baseline's own, the baseline is already as precise as SAM
can tell, and what the refinement changes is the classes' extent (a tree's canopy over the building
behind it, a road mask over the pavement), not the edges' precision: the image keeps its baseline.
Measured in docs/decisions/0021-baseline-precision-check.md.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    (``min_edge_gain``, or ``min_detail_edge_gain`` when the contrast ratio is above 1); passed:
    ``edge_gain >= required`` (or nothing changed).
    """

    edge_gain: float
    contrast_ratio: float
    required: float
    passed: bool

    def describe(self) -> str:
        """One line for the app and the logs."""
        verdict = "refined" if self.passed else "baseline kept"
        kind = "adds edges" if self.contrast_ratio > 1.0 else "simplifies edges"
        return (f"{verdict}: refined edges {self.edge_gain:.3f}x as strong as the baseline's "
                f"(needed {self.required:.2f}; the refinement {kind})")


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
        return PrecisionCheck(1.0, 1.0, config.min_edge_gain, True)
    baseline, labels = edges.at_work_scale(baseline), edges.at_work_scale(labels)
    gradient = edges.values.astype(np.float32)
    fallback = float(gradient.mean())  # a map without edges: as if its edges lay on average pixels
    strengths = []
    for label_map in (baseline, labels):
        on_edges = gradient[class_edges(label_map)]
        strengths.append((float(on_edges.mean()) if on_edges.size else fallback,
                          float(on_edges.sum()) if on_edges.size else fallback))
    (base_mean, base_total), (refined_mean, refined_total) = strengths
    gain = refined_mean / max(base_mean, 1e-6)
    contrast = refined_total / max(base_total, 1e-6)
    required = config.min_detail_edge_gain if contrast > 1.0 else config.min_edge_gain
    return PrecisionCheck(round(gain, 4), round(contrast, 4), required, gain >= required)

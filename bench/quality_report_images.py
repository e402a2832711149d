"""Per-image scores, the worst images of a set, and their side-by-side PNGs for bench/quality.py.

Panel order: image | truth | baseline | refined | fixed/broken map. The map colours each pixel whose
truth is not void: green = fixed (baseline wrong, refined right), red = broken (baseline right, refined
wrong), grey = an error both have, black = right in both; white = void in the truth. Label panels use the VOC
palette (void in VOC's cream).
"""

from __future__ import annotations

import heapq
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from uosam_core.atomic import write_bytes
from uosam_core.metrics import scoring_confusion

FIXED = (0, 200, 0)
BROKEN = (230, 0, 0)
BOTH_WRONG = (128, 128, 128)
BOTH_RIGHT = (0, 0, 0)
VOID = (255, 255, 255)
VOID_LABEL = (224, 224, 192)  # void / out-of-range ids in the label panels (VOC's void colour)
PANEL_MAX_SIDE = 640  # panels are shrunk (nearest for labels) so one PNG stays small for any image size
TITLE_HEIGHT = 22
GAP = 4


@dataclass(frozen=True)
class ImageScore:
    """One image's scores in percent: mIoU over classes with a non-empty union, pixel accuracy."""

    miou: float
    pacc: float


def image_score(pred: np.ndarray, gt: np.ndarray, num_classes: int, ignore_index: int) -> ImageScore:
    """Scores of one HxW prediction against its HxW truth (void pixels left out, out-of-range ids errors)."""
    matrix = scoring_confusion(pred, gt, num_classes, ignore_index).astype(np.float64)
    tp = np.diag(matrix)[:num_classes]
    union = matrix.sum(0)[:num_classes] + matrix.sum(1)[:num_classes] - tp
    present = union > 0
    miou = float((tp[present] / union[present]).mean() * 100) if present.any() else 0.0
    return ImageScore(miou=miou, pacc=float(tp.sum() / max(matrix.sum(), 1) * 100))


def change_map(gt: np.ndarray, baseline: np.ndarray, refined: np.ndarray, ignore_index: int) -> np.ndarray:
    """HxWx3 uint8 fixed/broken map of ``refined`` against ``baseline`` (colours in the module docstring)."""
    base_right = baseline == gt
    refined_right = refined == gt
    colours = np.empty((*gt.shape, 3), np.uint8)
    colours[:] = BOTH_RIGHT
    colours[~base_right & refined_right] = FIXED
    colours[base_right & ~refined_right] = BROKEN
    colours[~base_right & ~refined_right] = BOTH_WRONG
    colours[gt == ignore_index] = VOID
    return colours


def class_palette(num_classes: int, *, background_first: bool = False) -> np.ndarray:
    """num_classes x 3 uint8 colours from the PASCAL VOC bit-pattern palette.

    ``background_first``: class 0 is black (VOC's background); otherwise class c gets VOC colour c + 1,
    so no class is drawn black.
    """
    palette = np.zeros((num_classes, 3), np.uint8)
    for class_id in range(num_classes):
        value, red, green, blue = class_id + (0 if background_first else 1), 0, 0, 0
        for shift in range(7, -1, -1):
            red |= ((value >> 0) & 1) << shift
            green |= ((value >> 1) & 1) << shift
            blue |= ((value >> 2) & 1) << shift
            value >>= 3
        palette[class_id] = (red, green, blue)
    return palette


def colour_labels(labels: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 colours of HxW integer ids; ids outside the palette (void) get VOID_LABEL."""
    known = (labels >= 0) & (labels < len(palette))
    colours = palette[np.where(known, labels, 0)]
    colours[~known] = VOID_LABEL
    return colours


def _shrink(panel: np.ndarray, size: tuple[int, int], smooth: bool) -> np.ndarray:
    if panel.shape[1::-1] == size:
        return panel
    return cv2.resize(panel, size, interpolation=cv2.INTER_AREA if smooth else cv2.INTER_NEAREST)


def side_by_side(image: np.ndarray, gt: np.ndarray, baseline: np.ndarray, refined: np.ndarray,
                 num_classes: int, ignore_index: int, captions: Sequence[str], *,
                 background_first: bool = False) -> np.ndarray:
    """One RGB uint8 strip: image | truth | baseline | refined | fixed/broken map, a caption above each.

    ``image`` HxWx3 uint8 RGB, the label maps HxW integer ids of the same size; five ``captions``;
    ``background_first`` as in :func:`class_palette`.
    Panels wider or taller than PANEL_MAX_SIDE are shrunk (labels by nearest neighbour).
    """
    if len(captions) != 5:
        raise ValueError(f"side_by_side needs 5 captions, got {len(captions)}")
    height, width = gt.shape
    scale = min(1.0, PANEL_MAX_SIDE / max(height, width))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    palette = class_palette(num_classes, background_first=background_first)
    panels = [_shrink(image, size, True)] + [
        _shrink(colour_labels(labels, palette), size, False) for labels in (gt, baseline, refined)]
    panels.append(_shrink(change_map(gt, baseline, refined, ignore_index), size, False))
    strip = np.full((size[1] + TITLE_HEIGHT, len(panels) * (size[0] + GAP) - GAP, 3), 255, np.uint8)
    for index, panel in enumerate(panels):
        left = index * (size[0] + GAP)
        strip[TITLE_HEIGHT:, left:left + size[0]] = panel
        cv2.putText(strip, captions[index], (left + 2, TITLE_HEIGHT - 7), cv2.FONT_HERSHEY_SIMPLEX, 0.42,
                    (0, 0, 0), 1, cv2.LINE_AA)
    return strip


def write_png(path: Path, rgb: np.ndarray) -> None:
    """Write an HxWx3 uint8 RGB array as PNG atomically."""
    encoded = io.BytesIO()
    Image.fromarray(rgb, "RGB").save(encoded, format="PNG")
    write_bytes(path, encoded.getvalue())


@dataclass(order=True)
class _Entry:
    loss: float  # the heap's top is the smallest loss, the first one dropped
    stem: str
    base: ImageScore = field(compare=False)
    refined: ImageScore = field(compare=False)
    labels: np.ndarray = field(compare=False, repr=False)


@dataclass(frozen=True)
class WorstImage:
    """One image of the worst list: its stem, scores before and after, and the refined labels (HxW)."""

    stem: str
    base: ImageScore
    refined: ImageScore
    labels: np.ndarray

    @property
    def loss(self) -> float:
        """The larger of the mIoU and pixel-accuracy losses (points; negative when both gained)."""
        return max(self.base.miou - self.refined.miou, self.base.pacc - self.refined.pacc)


class WorstImages:
    """Keeps the ``count`` images whose refinement lost most (only their refined labels stay in memory)."""

    def __init__(self, count: int = 10) -> None:
        self.count = count
        self._heap: list[_Entry] = []

    def add(self, stem: str, base: ImageScore, refined: ImageScore, labels: np.ndarray) -> None:
        """Offer one image; ``labels`` (HxW ids) are kept as uint8 when they fit, else as int32."""
        if self.count <= 0:
            return
        loss = WorstImage(stem, base, refined, labels).loss
        small = labels.astype(np.uint8) if labels.min(initial=0) >= 0 and labels.max(initial=0) < 256 else labels
        entry = _Entry(loss, stem, base, refined, small)
        if len(self._heap) < self.count:
            heapq.heappush(self._heap, entry)
        elif entry > self._heap[0]:
            heapq.heapreplace(self._heap, entry)

    def ranked(self) -> list[WorstImage]:
        """Worst first."""
        entries = sorted(self._heap, reverse=True)
        return [WorstImage(entry.stem, entry.base, entry.refined, entry.labels) for entry in entries]


def worst_line(rank: int, worst: WorstImage) -> str:
    """One printable line for a worst image."""
    return (f"{rank:2d}. {worst.stem}: mIoU {worst.base.miou:.1f} -> {worst.refined.miou:.1f} "
            f"({worst.refined.miou - worst.base.miou:+.1f}), pAcc {worst.base.pacc:.1f} -> "
            f"{worst.refined.pacc:.1f} ({worst.refined.pacc - worst.base.pacc:+.1f})")

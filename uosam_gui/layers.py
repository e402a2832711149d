"""Layer rendering as pure functions: label maps, masks and float maps to display arrays.

Everything is drawn at display resolution: an image larger than :data:`MAX_DISPLAY_SIDE` is
sampled every ``step`` pixels (nearest), so a 4000x3000 image colours 2000x1500 pixels, not 12 M.
A layer is an array plus the rectangle (x, y, width, height, image pixels) it covers; per-object
layers cover only the object's bounding box. Nothing here copies a full-resolution array.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 - the usual name

from .classes import ClassTable

MAX_DISPLAY_SIDE = 1280  # about the canvas' width: finer detail would not be seen at the fitted zoom
MAX_HEATMAP_SIDE = 1024  # LCM and vote share are smooth maps (the LCM comes from a 64x64 feature grid)
NO_EDIT = -1  # the document's "no pixel edit" value
Rect = tuple[int, int, int, int]  # x, y, width, height in image pixels


@dataclass(frozen=True)
class Layer:
    """A display array (HxW or HxWx4) and the image rectangle it covers."""

    data: np.ndarray
    rect: Rect


def display_step(shape: tuple[int, ...], max_side: int = MAX_DISPLAY_SIDE) -> int:
    """Sampling step so that the longer side of an HxW image is at most ``max_side`` display pixels.

    >>> display_step((3000, 4000)), display_step((319, 320))
    (4, 1)
    """
    return max(1, math.ceil(max(shape[:2]) / max_side))


def full_rect(shape: tuple[int, ...], step: int) -> Rect:
    """The rectangle covered by an HxW array sampled every ``step`` pixels."""
    rows, cols = -(-shape[0] // step), -(-shape[1] // step)
    return 0, 0, cols * step, rows * step


def final_labels(labels: np.ndarray, pixel_edits: np.ndarray, step: int) -> np.ndarray:
    """HxW final labels at display resolution: ``labels`` with ``pixel_edits`` (NO_EDIT = none) on top."""
    small, edits = labels[::step, ::step], pixel_edits[::step, ::step]
    return np.where(edits != NO_EDIT, edits, small)


def label_colors(classes: ClassTable, labels: np.ndarray) -> np.ndarray:
    """HxWx4 uint8 class colours (hidden and negative ids transparent; ids above 255 reuse the colours
    modulo 256), as :meth:`ClassTable.rgba` gives them, with one table lookup per pixel.

    >>> from uosam_gui.classes import generated_palette
    >>> label_colors(ClassTable(generated_palette()), np.array([[1, 255, -1]]))[..., 3].tolist()
    [[255, 0, 0]]
    """
    if labels.size == 0:
        return np.zeros((*labels.shape, 4), np.uint8)
    low, high = int(labels.min()), int(labels.max())
    ids = np.arange(min(low, 0), high + 1)
    lut = np.zeros((ids.size, 4), np.uint8)
    lut[:, :3] = classes.colors[ids % 256]
    lut[:, 3] = 255
    lut[(ids < 0) | np.isin(ids, classes.transparent_ids)] = 0  # ignore ids and classes the user hid
    return lut[labels - min(low, 0)] if low < 0 else lut[labels]


def difference_colors(classes: ClassTable, final: np.ndarray, baseline: np.ndarray) -> np.ndarray:
    """HxWx4 uint8: final class colours where they differ from the baseline, transparent elsewhere."""
    rgba = label_colors(classes, final)
    rgba[final == baseline] = 0
    return rgba


def edges(mask: np.ndarray) -> np.ndarray:
    """Bool edge pixels of an HxW bool mask (morphological gradient, 1 px)."""
    as_bytes = mask.astype(np.uint8)
    return cv2.morphologyEx(as_bytes, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)).astype(bool)


def bounding_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) of a bool mask's true pixels (exclusive ends), None when empty."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


# A mask is an HxW bool array or a compact mask of the core (box + packed crop: ``box``, ``area``,
# ``window``, ``contains``); the helpers below read either without building a full-size array.
def mask_box(mask) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) of a mask's pixels, None when empty."""
    if hasattr(mask, "window"):
        top, left, bottom, right = mask.box
        return (left, top, right, bottom) if mask.area else None
    return bounding_box(mask)


def mask_window(mask, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    """A mask's bool pixels inside [y0:y1, x0:x1]."""
    return mask.window((y0, x0, y1, x1)) if hasattr(mask, "window") else mask[y0:y1, x0:x1]


def mask_contains(mask, x: int, y: int) -> bool:
    """Whether pixel (x, y) of a mask is set."""
    return mask.contains(x, y) if hasattr(mask, "contains") else bool(mask[y, x])


def mask_area(mask) -> int:
    """Pixels set in a mask."""
    return int(mask.area) if hasattr(mask, "window") else int(np.count_nonzero(mask))


def _aligned_window(boxes: list, shape: tuple[int, int], step: int) -> tuple[int, int, int, int]:
    """The union of boxes with a one-step margin, its origin on the sampling grid, clipped to HxW."""
    height, width = shape
    x0 = max(0, min(b[0] for b in boxes) - step) // step * step
    y0 = max(0, min(b[1] for b in boxes) - step) // step * step
    return x0, y0, min(width, max(b[2] for b in boxes) + step), min(height, max(b[3] for b in boxes) + step)


def object_layer(refined, baseline, step: int, shape: tuple[int, int] | None = None) -> Layer | None:
    """The selected object: refined mask tinted white, its outline white and the baseline outline
    magenta; masks in (HxW bool or compact; ``shape`` = (H, W), default the arrays' shape), an RGBA
    layer over their bounding box (one step of margin) at display resolution out."""
    boxes = [box for box in (mask_box(refined), mask_box(baseline)) if box is not None]
    if not boxes:
        return None
    x0, y0, x1, y1 = _aligned_window(boxes, shape or refined.shape, step)
    small_refined = mask_window(refined, x0, y0, x1, y1)[::step, ::step]
    small_baseline = mask_window(baseline, x0, y0, x1, y1)[::step, ::step]
    rgba = np.zeros((*small_refined.shape, 4), np.uint8)
    rgba[small_refined] = (255, 255, 255, 40)
    rgba[edges(small_baseline)] = (255, 0, 255, 255)
    rgba[edges(small_refined)] = (255, 255, 255, 255)
    return Layer(rgba, (x0, y0, small_refined.shape[1] * step, small_refined.shape[0] * step))


def outline_colors(masks, step: int) -> np.ndarray:
    """HxWx4 uint8 white edges of M masks (an M x H x W bool array or the core's mask stack), at
    display resolution; each mask is read only inside its box."""
    shape = tuple(masks.shape[1:])
    small_shape = (-(-shape[0] // step), -(-shape[1] // step))
    outline = np.zeros(small_shape, bool)
    for mask in (masks.compacts if hasattr(masks, "compacts") else masks):  # the stack's compact masks
        box = mask_box(mask)
        if box is None:
            continue
        x0, y0, x1, y1 = _aligned_window([box], shape, step)
        edge = edges(mask_window(mask, x0, y0, x1, y1)[::step, ::step])
        outline[y0 // step: y0 // step + edge.shape[0], x0 // step: x0 // step + edge.shape[1]] |= edge
    rgba = np.zeros((*small_shape, 4), np.uint8)
    rgba[outline] = (255, 255, 255, 200)
    return rgba


def grid_at_input(grid) -> np.ndarray:
    """A feature-grid map (the core's GridMap: rows x cols ``values``, ``stride``, ``input_size``) at
    the encoder input's resolution (at most 1024 on the long side): bilinear, padding cropped. Drawn
    over the whole image, it looks as the full-resolution map does at a fraction of the pixels."""
    rows, cols = grid.values.shape
    values = torch.from_numpy(np.ascontiguousarray(grid.values, np.float32))[None, None]
    upsampled = F.interpolate(values, size=(rows * grid.stride, cols * grid.stride), mode="bilinear",
                              align_corners=False)
    return upsampled[0, 0, : grid.input_size[0], : grid.input_size[1]].numpy()


def heat_values(values: np.ndarray, step: int) -> tuple[np.ndarray, tuple[float, float]]:
    """A float map at display resolution (float32) and its (min, max) levels."""
    small = np.asarray(values[::step, ::step], dtype=np.float32)
    return small, (float(small.min()), float(small.max())) if small.size else (0.0, 1.0)


def class_shares(labels: np.ndarray, ignore_ids: tuple[int, ...]) -> list[tuple[int, float]]:
    """(class id, share of the pixels) of an HxW id map, largest first, ignore ids left out.

    >>> class_shares(np.array([[1, 1], [2, 255]]), (255,))
    [(1, 0.5), (2, 0.25)]
    """
    valid = labels if labels.size and labels.min() >= 0 else labels[labels >= 0]
    counts = np.bincount(valid.ravel()) if valid.size else np.zeros(0, np.int64)
    shares = [(class_id, int(count) / labels.size) for class_id, count in enumerate(counts.tolist())
              if count and class_id not in ignore_ids]
    return sorted(shares, key=lambda pair: -pair[1])


def value_at(labels: np.ndarray, pixel_edits: np.ndarray, x: int, y: int) -> int:
    """The final class of one pixel without building the final label map."""
    edit = int(pixel_edits[y, x])
    return edit if edit != NO_EDIT else int(labels[y, x])


def object_at(masks: list, x: int, y: int) -> int:
    """Index of the smallest mask (HxW bool or compact) containing pixel (x, y), -1 when none does."""
    hits = [(mask_area(mask), index) for index, mask in enumerate(masks) if mask_contains(mask, x, y)]
    return min(hits)[1] if hits else -1

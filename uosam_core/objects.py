"""Splitting a baseline label map into the objects the LRO refines."""

from __future__ import annotations

import cv2
import numpy as np

from .config import ObjectMode
from .masks import CompactMask, union_box


def connected_components(mask: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """8-connected components of a bool mask: (count incl. background, HxW ids, areas per id)."""
    count, ids, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    return count, ids, stats[:, cv2.CC_STAT_AREA]


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 8-connected component of a bool mask (empty in, empty out)."""
    count, ids, areas = connected_components(mask)
    if count <= 1:
        return np.zeros_like(mask, dtype=bool)
    return ids == 1 + int(np.argmax(areas[1:]))


def _class_ids(labels: np.ndarray) -> np.ndarray:
    """Sorted distinct ids of an int label map (bincount when ids are small, else unique)."""
    if labels.size and labels.dtype.kind in "iu" and 0 <= labels.min() and labels.max() < 1 << 20:
        return np.flatnonzero(np.bincount(labels.ravel()))
    return np.unique(labels)


def extract_objects(labels: np.ndarray, *, ignore_ids: tuple[int, ...], background_ids: tuple[int, ...],
                    min_area: int, mode: ObjectMode) -> list[tuple[int, CompactMask]]:
    """(class id, compact mask) for every refinable object of an HxW int label map, largest first.

    "class": all pixels of a class form one object; "component": each connected component does.
    Ignore and background classes and objects under ``min_area`` pixels are left out. One dense
    HxW mask exists at a time.
    """
    skipped = set(ignore_ids) | set(background_ids)
    shape = (int(labels.shape[0]), int(labels.shape[1]))
    objects: list[tuple[int, CompactMask]] = []
    for class_id in _class_ids(labels):
        if int(class_id) in skipped:
            continue
        mask = labels == class_id
        if mode == "class":
            if np.count_nonzero(mask) >= min_area:
                objects.append((int(class_id), CompactMask.from_dense(mask)))
            continue
        count, ids, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
        for component in range(1, count):
            left, top, width, height, area = (int(v) for v in stats[component])
            if area >= min_area:
                crop = ids[top: top + height, left: left + width] == component
                objects.append((int(class_id), CompactMask.from_crop(crop, top, left, shape)))
    objects.sort(key=lambda item: -item[1].area)
    return objects


def mask_box(mask: np.ndarray) -> tuple[float, float, float, float] | None:
    """XYXY pixel box around a bool mask (inclusive-exclusive), or None when empty."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    return float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1)


def mask_iou(first: np.ndarray | CompactMask, second: np.ndarray | CompactMask) -> float:
    """IoU of two bool masks, dense HxW or compact (0 when both are empty)."""
    if isinstance(first, CompactMask) and isinstance(second, CompactMask):
        box = union_box(first.box, second.box)
        first, second = first.window(box), second.window(box)
    elif isinstance(first, CompactMask) or isinstance(second, CompactMask):
        first, second = (m.dense() if isinstance(m, CompactMask) else m for m in (first, second))
    union = np.logical_or(first, second).sum()
    return float(np.logical_and(first, second).sum() / union) if union else 0.0

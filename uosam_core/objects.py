"""Splitting a baseline label map into the objects the LRO refines."""

from __future__ import annotations

import cv2
import numpy as np

from .config import ObjectMode


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


def extract_objects(labels: np.ndarray, *, ignore_ids: tuple[int, ...], background_ids: tuple[int, ...],
                    min_area: int, mode: ObjectMode) -> list[tuple[int, np.ndarray]]:
    """(class id, HxW bool mask) for every refinable object, largest first.

    "class": all pixels of a class form one object; "component": each connected component does.
    Ignore and background classes and objects under ``min_area`` pixels are left out.
    """
    skipped = set(ignore_ids) | set(background_ids)
    objects: list[tuple[int, np.ndarray]] = []
    for class_id in np.unique(labels):
        if int(class_id) in skipped:
            continue
        mask = labels == class_id
        if mode == "class":
            if mask.sum() >= min_area:
                objects.append((int(class_id), mask))
            continue
        count, ids, areas = connected_components(mask)
        for component in range(1, count):
            if areas[component] >= min_area:
                objects.append((int(class_id), ids == component))
    objects.sort(key=lambda item: -int(item[1].sum()))
    return objects


def mask_box(mask: np.ndarray) -> tuple[float, float, float, float] | None:
    """XYXY pixel box around a bool mask (inclusive-exclusive), or None when empty."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    return float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1)


def mask_iou(first: np.ndarray, second: np.ndarray) -> float:
    """IoU of two bool masks (0 when both are empty)."""
    union = np.logical_or(first, second).sum()
    return float(np.logical_and(first, second).sum() / union) if union else 0.0

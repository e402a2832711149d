"""Segmentation metrics: confusion matrix, mIoU, pixel accuracy, boundary IoU, Hungarian matching."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment


def common_crop(first: np.ndarray, second: np.ndarray, tolerance: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Crop two maps to their common top-left size when they differ by at most ``tolerance`` pixels."""
    if first.shape[:2] == second.shape[:2]:
        return first, second
    if any(abs(a - b) > tolerance for a, b in zip(first.shape[:2], second.shape[:2])):
        raise ValueError(f"sizes {first.shape[:2]} and {second.shape[:2]} differ by more than {tolerance} px")
    rows, cols = min(first.shape[0], second.shape[0]), min(first.shape[1], second.shape[1])
    return first[:rows, :cols], second[:rows, :cols]


def confusion(pred: np.ndarray, gt: np.ndarray, num_classes: int, ignore_index: int | None = 255,
              num_pred: int | None = None) -> np.ndarray:
    """num_classes x num_pred confusion counts (rows: ground truth, columns: prediction)."""
    num_pred = num_pred or num_classes
    valid = (gt >= 0) & (gt < num_classes) & (pred >= 0) & (pred < num_pred)
    if ignore_index is not None:
        valid &= gt != ignore_index
    index = gt[valid].astype(np.int64) * num_pred + pred[valid].astype(np.int64)
    return np.bincount(index, minlength=num_classes * num_pred).reshape(num_classes, num_pred)


def boundary(mask: np.ndarray, dilation_ratio: float) -> np.ndarray:
    """Inner boundary band of a bool mask (Cheng et al. 2021): mask minus its erosion by d pixels,
    d = round(dilation_ratio * image diagonal), at least 1."""
    height, width = mask.shape
    distance = max(1, int(round(dilation_ratio * np.sqrt(height**2 + width**2))))
    padded = cv2.copyMakeBorder(mask.astype(np.uint8), 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    eroded = cv2.erode(padded, np.ones((3, 3), np.uint8), iterations=distance)[1:-1, 1:-1]
    return mask & ~eroded.astype(bool)


def boundary_counts(pred: np.ndarray, gt: np.ndarray, num_classes: int, ignore_index: int | None,
                    dilation_ratio: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-class boundary intersection and union pixel counts for one image."""
    intersection = np.zeros(num_classes, np.int64)
    union = np.zeros(num_classes, np.int64)
    valid = np.ones(gt.shape, bool) if ignore_index is None else gt != ignore_index
    for class_id in np.union1d(np.unique(pred[valid]), np.unique(gt[valid])):
        if not 0 <= class_id < num_classes:
            continue
        gt_band = boundary(gt == class_id, dilation_ratio) & valid
        pred_band = boundary(pred == class_id, dilation_ratio) & valid
        intersection[class_id] += np.logical_and(gt_band, pred_band).sum()
        union[class_id] += np.logical_or(gt_band, pred_band).sum()
    return intersection, union


@dataclass
class Scores:
    """Data-set level scores in percent."""

    miou: float
    pacc: float
    boundary_iou: float
    per_class_iou: np.ndarray

    def line(self) -> str:
        """One printable line."""
        return f"mIoU {self.miou:.2f}  pAcc {self.pacc:.2f}  boundary IoU {self.boundary_iou:.2f}"


class Evaluator:
    """Accumulates a confusion matrix and boundary counts over images."""

    def __init__(self, num_classes: int, ignore_index: int | None = 255, dilation_ratio: float = 0.02) -> None:
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.dilation_ratio = dilation_ratio
        self.matrix = np.zeros((num_classes, num_classes), np.int64)
        self.boundary_intersection = np.zeros(num_classes, np.int64)
        self.boundary_union = np.zeros(num_classes, np.int64)

    def add(self, pred: np.ndarray, gt: np.ndarray) -> None:
        """Add one image (pred and gt cropped to their common size first)."""
        pred, gt = common_crop(pred, gt)
        self.matrix += confusion(pred, gt, self.num_classes, self.ignore_index)
        inter, union = boundary_counts(pred, gt, self.num_classes, self.ignore_index, self.dilation_ratio)
        self.boundary_intersection += inter
        self.boundary_union += union

    def scores(self) -> Scores:
        """mIoU over classes with a non-empty union, pixel accuracy, boundary mIoU (percent)."""
        matrix = self.matrix.astype(np.float64)
        tp = np.diag(matrix)
        union = matrix.sum(0) + matrix.sum(1) - tp
        present = union > 0
        iou = np.where(present, tp / np.maximum(union, 1), np.nan)
        b_present = self.boundary_union > 0
        b_iou = self.boundary_intersection[b_present] / self.boundary_union[b_present]
        return Scores(
            miou=float(np.nanmean(iou) * 100) if present.any() else 0.0,
            pacc=float(tp.sum() / max(matrix.sum(), 1) * 100),
            boundary_iou=float(b_iou.mean() * 100) if b_present.any() else 0.0,
            per_class_iou=iou * 100,
        )


def hungarian_mapping(matrix: np.ndarray) -> np.ndarray:
    """Map each predicted cluster (column) to a class (row) maximising matched pixels.

    Returns an array ``mapping[cluster] = class`` (-1 for clusters left unmatched).
    """
    rows, cols = linear_sum_assignment(matrix, maximize=True)
    mapping = -np.ones(matrix.shape[1], np.int64)
    mapping[cols] = rows
    return mapping

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
        (rows_a, cols_a), (rows_b, cols_b) = first.shape[:2], second.shape[:2]
        raise ValueError(f"sizes {cols_a}x{rows_a} and {cols_b}x{rows_b} (WxH) differ by more than {tolerance} px")
    rows, cols = min(first.shape[0], second.shape[0]), min(first.shape[1], second.shape[1])
    return first[:rows, :cols], second[:rows, :cols]


_CHUNK_PIXELS = 1 << 20  # confusion counts are taken in row blocks of about this many pixels


def confusion(pred: np.ndarray, gt: np.ndarray, num_classes: int, ignore_index: int | None = 255,
              num_pred: int | None = None) -> np.ndarray:
    """num_classes x num_pred confusion counts (rows: ground truth, columns: prediction) of the pixels
    where both ids are in range and gt is not ``ignore_index``; for matching clusters to classes only.
    Scores count out-of-range pixels as errors: see :func:`scoring_confusion`."""
    num_pred = num_pred or num_classes
    valid = (gt >= 0) & (gt < num_classes) & (pred >= 0) & (pred < num_pred)
    if ignore_index is not None:
        valid &= gt != ignore_index
    index = gt[valid].astype(np.int64) * num_pred + pred[valid].astype(np.int64)
    return np.bincount(index, minlength=num_classes * num_pred).reshape(num_classes, num_pred)


def scoring_confusion(pred: np.ndarray, gt: np.ndarray, num_classes: int,
                      ignore_index: int | None = 255) -> np.ndarray:
    """(N+1)x(N+1) counts over every pixel whose gt is not ``ignore_index`` (rows gt, columns pred).

    Index N gathers ids outside 0..N-1 on either side, so a prediction of 255 (or -1) where the gt
    holds a class is a miss of that class, and a gt id >= N predicted as class c a false positive of c:
    such pixels are errors, never dropped. Counted in row blocks, so memory stays flat in image size.
    """
    if num_classes < 1:
        raise ValueError(f"num_classes must be at least 1, got {num_classes}")
    size = num_classes + 1
    counts = np.zeros(size * size, np.int64)
    rows = max(1, _CHUNK_PIXELS // max(gt.shape[1] if gt.ndim > 1 else 1, 1))
    for start in range(0, gt.shape[0], rows):
        gt_block = gt[start:start + rows].astype(np.int64).ravel()
        pred_block = pred[start:start + rows].astype(np.int64).ravel()
        if ignore_index is not None:
            keep = gt_block != ignore_index
            gt_block, pred_block = gt_block[keep], pred_block[keep]
        gt_block[(gt_block < 0) | (gt_block >= num_classes)] = num_classes
        pred_block[(pred_block < 0) | (pred_block >= num_classes)] = num_classes
        counts += np.bincount(gt_block * size + pred_block, minlength=size * size)
    return counts.reshape(size, size)


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
    """Accumulates a confusion matrix and boundary counts over images, one image at a time.

    ``matrix`` is (N+1)x(N+1): row/column N holds ids outside 0..N-1 (counted as errors).
    """

    def __init__(self, num_classes: int, ignore_index: int | None = 255, dilation_ratio: float = 0.02) -> None:
        if num_classes < 1:
            raise ValueError(f"num_classes must be at least 1, got {num_classes}")
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.dilation_ratio = dilation_ratio
        self.matrix = np.zeros((num_classes + 1, num_classes + 1), np.int64)
        self.boundary_intersection = np.zeros(num_classes, np.int64)
        self.boundary_union = np.zeros(num_classes, np.int64)

    def add(self, pred: np.ndarray, gt: np.ndarray) -> None:
        """Add one image: HxW integer pred and gt (cropped to their common size first)."""
        pred, gt = common_crop(pred, gt)
        self.matrix += scoring_confusion(pred, gt, self.num_classes, self.ignore_index)
        inter, union = boundary_counts(pred, gt, self.num_classes, self.ignore_index, self.dilation_ratio)
        self.boundary_intersection += inter
        self.boundary_union += union

    def scores(self) -> Scores:
        """mIoU over classes with a non-empty union, pixel accuracy, boundary mIoU (percent).

        IoU_c = |gt = c and pred = c| / |gt = c or pred = c| over non-ignore pixels; pAcc = share of
        non-ignore pixels whose prediction equals an in-range gt id.
        """
        matrix = self.matrix.astype(np.float64)
        classes = self.num_classes
        tp = np.diag(matrix)[:classes]
        union = matrix.sum(0)[:classes] + matrix.sum(1)[:classes] - tp
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

"""Per-image scores that add up to ``uosam eval``'s: one confusion matrix per image, summed for a set.

``uosam eval`` accumulates one (N+1)x(N+1) confusion matrix (:func:`metrics.scoring_confusion`) over
all images and takes mIoU and pixel accuracy from it (:meth:`metrics.Evaluator.scores`). Keeping
each image's matrix lets a viewer score one image (eval run on that image alone), re-score one
image after an edit, and give the set's totals (the sum of the matrices) without reading the
other images again. Every number goes through the same core code as ``uosam eval``, so they are
equal to its output on the same files. Boundary IoU is left out: it needs erosions per class and
image, too slow to redo after every edit of a large image.

:class:`PairCounts` keeps an image's counts over its full id range, sparse (a few dozen entries),
so the number of classes can be chosen (or changed, when a classes file is loaded) after the files
were read: folding the ids >= N into the "outside" bucket gives exactly eval's N-class matrix.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from .metrics import Evaluator, Scores, common_crop, scoring_confusion


def image_confusion(pred: np.ndarray, gt: np.ndarray, *, num_classes: int,
                    ignore_index: int | None = 255) -> np.ndarray:
    """(N+1)x(N+1) int64 counts of one image, as ``uosam eval`` adds them (rows gt, columns pred).

    ``pred`` and ``gt`` are HxW integer maps; they are cropped to their common size first (a
    ValueError names the two sizes when they differ by more than 2 pixels).

    >>> image_confusion(np.array([[0, 1]]), np.array([[0, 0]]), num_classes=2).tolist()
    [[1, 1, 0], [0, 0, 0], [0, 0, 0]]
    """
    pred, gt = common_crop(pred, gt)
    return scoring_confusion(pred, gt, num_classes, ignore_index)


def matrix_scores(matrices: np.ndarray | Iterable[np.ndarray], *, num_classes: int,
                  ignore_index: int | None = 255) -> Scores:
    """mIoU and pixel accuracy (percent) of one matrix or the sum of several, by the evaluator of
    ``uosam eval`` (``boundary_iou`` is 0: no boundary counts are kept here)."""
    evaluator = Evaluator(num_classes, ignore_index)
    for matrix in [matrices] if isinstance(matrices, np.ndarray) else matrices:
        if matrix.shape != evaluator.matrix.shape:
            raise ValueError(f"confusion matrix {matrix.shape} does not fit {num_classes} classes")
        evaluator.matrix += matrix
    return evaluator.scores()


MAX_ID = 1023  # ids up to this fit :class:`PairCounts` (8-bit maps; ImageNet-S' 1000 ignore id)


@dataclass(frozen=True)
class PairCounts:
    """One image's nonzero confusion counts over every id it holds (K entries; -1: a negative id).

    ``matrix(num_classes)`` equals :func:`image_confusion` of the same maps for any class count.
    """

    gt: np.ndarray  # K int64 ground-truth ids
    pred: np.ndarray  # K int64 predicted ids
    count: np.ndarray  # K int64 pixel counts

    @classmethod
    def of(cls, pred: np.ndarray, gt: np.ndarray, *, ignore_index: int | None = 255) -> PairCounts:
        """Counts of two HxW integer maps (cropped to their common size; ValueError for ids above
        :data:`MAX_ID` or sizes that differ by more than 2 pixels)."""
        pred, gt = common_crop(pred, gt)
        high = max(int(pred.max(initial=0)), int(gt.max(initial=0)))
        if high > MAX_ID:
            raise ValueError(f"label id {high} is above {MAX_ID}")
        span = high + 1  # every id 0..high is "in range": only negative ids fall in the last bucket
        matrix = scoring_confusion(pred, gt, span, ignore_index)
        rows, cols = np.nonzero(matrix)
        outside = np.int64(-1)
        return cls(np.where(rows == span, outside, rows).astype(np.int64),
                   np.where(cols == span, outside, cols).astype(np.int64), matrix[rows, cols].astype(np.int64))

    def matrix(self, num_classes: int) -> np.ndarray:
        """(N+1)x(N+1) int64 counts: ids outside 0..N-1 gathered in row / column N, as eval counts them."""
        matrix = np.zeros((num_classes + 1, num_classes + 1), np.int64)
        rows = np.where((self.gt < 0) | (self.gt >= num_classes), num_classes, self.gt)
        cols = np.where((self.pred < 0) | (self.pred >= num_classes), num_classes, self.pred)
        np.add.at(matrix, (rows, cols), self.count)
        return matrix

    def miou(self, num_classes: int, ignore_index: int | None = 255) -> float:
        """This image's mIoU (percent), as ``uosam eval`` gives it for this image alone."""
        return matrix_scores(self.matrix(num_classes), num_classes=num_classes, ignore_index=ignore_index).miou


def set_scores(counts: Iterable[PairCounts], *, num_classes: int, ignore_index: int | None = 255) -> Scores:
    """Scores of a set of images from one confusion matrix (the sum of theirs), as ``uosam eval``."""
    return matrix_scores((item.matrix(num_classes) for item in counts), num_classes=num_classes,
                         ignore_index=ignore_index)

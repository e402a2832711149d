"""Category voting: every SAM mask takes the majority class of the LRO map under it."""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def vote(lro_labels: np.ndarray, masks: np.ndarray, *, ignore_ids: tuple[int, ...], min_share: float = 0.0,
         max_fraction: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Paint masks (M x H x W bool, largest first) with their majority class.

    Pixels with a negative label (unknown) or an ignore id do not vote. A mask whose winner holds
    less than ``min_share`` of its voters, or that covers more than ``max_fraction`` of the image,
    is not painted (its class and share are still reported). Returns (labels, mask_classes,
    mask_shares, vote_class, vote_share); ``vote_class`` is -1 where no mask painted.
    """
    labels = lro_labels.astype(np.int32).copy()
    vote_class = np.full(lro_labels.shape, -1, np.int32)
    vote_share = np.zeros(lro_labels.shape, np.float32)
    voters = (lro_labels >= 0) & ~np.isin(lro_labels, ignore_ids)
    classes = np.full(len(masks), -1, np.int32)
    shares = np.zeros(len(masks), np.float32)
    for index, mask in enumerate(masks):
        ballots = lro_labels[mask & voters]
        if ballots.size == 0:
            continue
        counts = np.bincount(ballots)
        winner = int(np.argmax(counts))
        share = counts[winner] / ballots.size
        classes[index], shares[index] = winner, share
        if share < min_share or mask.mean() > max_fraction:
            continue
        labels[mask] = winner
        vote_class[mask] = winner
        vote_share[mask] = share
    return labels, classes, shares, vote_class, vote_share


def fill_unknown(labels: np.ndarray) -> np.ndarray:
    """Give every negative (unknown) pixel the class of its nearest known pixel."""
    unknown = labels < 0
    if not unknown.any() or unknown.all():
        return labels
    _, (rows, cols) = ndimage.distance_transform_edt(unknown, return_indices=True)
    return labels[rows, cols]

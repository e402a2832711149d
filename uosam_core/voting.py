"""Category voting: every SAM mask takes the majority class of the LRO map under it.

Masks are read one at a time inside their boxes (compact, docs/decisions/0008); the per-pixel vote
maps are painted only when asked for (:func:`vote_maps`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import numpy as np
from scipy import ndimage

from .coherence import RegionIndex
from .config import GroConfig
from .lcm import GridMap
from .masks import MaskStack
from .precision import EdgeMap


class Votes(NamedTuple):
    """The outcome of :func:`vote`.

    labels: HxW int32 painted map; classes: (M,) int32 winner per mask (-1: no voters);
    shares: (M,) float32 winner's share of the voters; painted: (M,) bool whether the mask painted.
    """

    labels: np.ndarray
    classes: np.ndarray
    shares: np.ndarray
    painted: np.ndarray


def as_stack(masks: MaskStack | np.ndarray) -> MaskStack:
    """A :class:`MaskStack` from a stack or an M x H x W bool array."""
    return masks if isinstance(masks, MaskStack) else MaskStack.from_dense(np.asarray(masks, bool))


def vote(lro_labels: np.ndarray, masks: MaskStack | np.ndarray, *, ignore_ids: tuple[int, ...],
         min_share: float = 0.0, max_fraction: float = 1.0, keep_whole_share: float | None = None,
         keep_min_area: int = 0, keep_feature_margin: float = 0.0, class_maps: Mapping[int, GridMap] | None = None,
         keep_edge_strength: float | None = None, edge_map: EdgeMap | None = None,
         source: np.ndarray | None = None) -> Votes:
    """Paint masks (M masks of the HxW image, largest first) with their majority class.

    Pixels with a negative label (unknown) or an ignore id do not vote. A mask whose winner holds
    less than ``min_share`` of its voters, or that covers more than ``max_fraction`` of the image,
    is not painted (its class and share are still reported). With ``keep_whole_share``, a region of
    another class with at least that share of its pixels inside the mask and ``keep_min_area``
    pixels keeps its class (:mod:`.coherence`), if ``class_maps`` (class id -> LCM) show it less like
    the winner than the winner's own pixels by ``keep_feature_margin``, or if its outline lies on image edges
    ``keep_edge_strength`` times as strong as the image's average (``edge_map``: an object below the LCM's
    resolution, a ball held by a person). ``source`` (HxW int32), when given, receives the
    index of the mask that painted each pixel. ``lro_labels`` is not modified.
    """
    stack = as_stack(masks)
    regions = None
    if keep_whole_share is not None:
        regions = RegionIndex(lro_labels, ignore_ids, edge_map if keep_edge_strength is not None else None)
    labels = lro_labels.astype(np.int32).copy()
    voters = (lro_labels >= 0) & ~np.isin(lro_labels, ignore_ids)
    classes = np.full(len(stack), -1, np.int32)
    shares = np.zeros(len(stack), np.float32)
    painted = np.zeros(len(stack), bool)
    pixels = lro_labels.size
    for index, mask in enumerate(stack.compacts):
        if not mask.area:
            continue
        window = mask.slices
        crop = mask.crop()
        ballots = lro_labels[window][crop & voters[window]]
        if ballots.size == 0:
            continue
        counts = np.bincount(ballots)
        winner = int(np.argmax(counts))
        share = counts[winner] / ballots.size
        classes[index], shares[index] = winner, share
        if share < min_share or mask.area / pixels > max_fraction:
            continue
        if regions is not None:
            crop = crop & ~regions.kept(crop, window, winner, keep_whole_share, keep_min_area, class_maps,
                                          keep_feature_margin, keep_edge_strength)
        labels[window][crop] = winner
        if source is not None:
            source[window][crop] = index
        painted[index] = True
    return Votes(labels, classes, shares, painted)


def vote_options(config: GroConfig, pixels: int) -> dict:
    """The :func:`vote` keyword options of a GRO configuration, for an image of ``pixels`` pixels."""
    return {"min_share": config.min_vote_share, "max_fraction": config.max_mask_fraction,
            "keep_whole_share": config.keep_whole_share, "keep_feature_margin": config.keep_feature_margin,
            "keep_edge_strength": config.keep_edge_strength,
            "keep_min_area": int(round(config.keep_min_area_fraction * pixels))}


def vote_maps(masks: MaskStack | np.ndarray, classes: np.ndarray, shares: np.ndarray, painted: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
    """(vote_class HxW int32, -1 where no mask painted; vote_share HxW float32) of a :func:`vote`."""
    stack = as_stack(masks)
    vote_class = np.full(stack.image_shape, -1, np.int32)
    vote_share = np.zeros(stack.image_shape, np.float32)
    for index in np.flatnonzero(painted):
        mask = stack.compact(int(index))
        mask.paint(vote_class, classes[index])
        mask.paint(vote_share, shares[index])
    return vote_class, vote_share


def vote_at(masks: MaskStack, classes: np.ndarray, shares: np.ndarray, painted: np.ndarray, x: int, y: int
            ) -> tuple[int, float]:
    """(class, share) of the last painted mask over pixel (x, y), or (-1, 0.0); no HxW map built."""
    for index in np.flatnonzero(painted)[::-1]:
        if masks.compact(int(index)).contains(x, y):
            return int(classes[index]), float(shares[index])
    return -1, 0.0


def fill_unknown(labels: np.ndarray) -> np.ndarray:
    """Give every negative (unknown) pixel of an HxW int map the class of its nearest known pixel."""
    unknown = labels < 0
    if not unknown.any() or unknown.all():
        return labels
    _, (rows, cols) = ndimage.distance_transform_edt(unknown, return_indices=True)
    return labels[rows, cols]

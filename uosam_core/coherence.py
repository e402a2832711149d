"""Coherent regions a SAM mask may not erase (docs/decisions/0017).

A region is one 8-connected component of one class of the map being voted on. When a mask's
majority class would overwrite a region that lies mostly inside the mask (at least ``whole_share``
of its pixels), is not tiny, and whose image features are less like the winning class than the
winner's own pixels in the mask are (its mean LCM of the winner is lower by ``feature_margin``),
the region is taken as a separate object that SAM merged with its neighbour (sidewalk in a road
mask, a rider on an elephant) and keeps its class. A region that only reaches into the mask (a
blurry edge), or that looks like the winner, is repainted as before. A region whose outline lies on
exceptionally strong image edges is kept even when its LCM looks like the winner's: an object smaller
than the LCM's grid (a ball held by a person; docs/decisions/0021).
"""

from __future__ import annotations

from collections.abc import Mapping

import cv2
import numpy as np

from .lcm import GridMap
from .precision import EdgeMap, class_edges


def sample_grid(grid: GridMap, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Bilinear values of a grid map at image pixels (rows, cols): (N,) float32, no HxW map built."""
    height, width = grid.original_size
    input_h, input_w = grid.input_size
    grid_y = ((rows + 0.5) * input_h / height) / grid.stride - 0.5
    grid_x = ((cols + 0.5) * input_w / width) / grid.stride - 0.5
    last_y, last_x = grid.values.shape[0] - 1, grid.values.shape[1] - 1
    grid_y = np.clip(grid_y, 0, last_y)
    grid_x = np.clip(grid_x, 0, last_x)
    y0, x0 = np.floor(grid_y).astype(int), np.floor(grid_x).astype(int)
    y1, x1 = np.minimum(y0 + 1, last_y), np.minimum(x0 + 1, last_x)
    fy, fx = grid_y - y0, grid_x - x0
    values = grid.values
    top = values[y0, x0] * (1 - fx) + values[y0, x1] * fx
    bottom = values[y1, x0] * (1 - fx) + values[y1, x1] * fx
    return (top * (1 - fy) + bottom * fy).astype(np.float32)


class RegionIndex:
    """Connected components of every class of an HxW int label map.

    ids: HxW int32 (0: ignored pixels, k >= 1: component k); areas / classes: per id (index 0 unused);
    outline_strength: per id, the mean of ``edge_map`` along the component's outline (None without a map).
    """

    def __init__(self, labels: np.ndarray, ignore_ids: tuple[int, ...], edge_map: EdgeMap | None = None) -> None:
        self.labels = labels
        self.ids = np.zeros(labels.shape, np.int32)
        areas, classes = [0], [-1]
        for class_id in np.unique(labels):
            if class_id < 0 or int(class_id) in ignore_ids:
                continue
            count, ids, stats, _ = cv2.connectedComponentsWithStats((labels == class_id).astype(np.uint8),
                                                                    connectivity=8)
            inside = ids > 0
            self.ids[inside] = ids[inside] + len(areas) - 1
            areas.extend(stats[1:, cv2.CC_STAT_AREA].tolist())
            classes.extend([int(class_id)] * (count - 1))
        self.areas = np.asarray(areas, np.int64)
        self.classes = np.asarray(classes, np.int64)
        self.outline_strength = None if edge_map is None else self._outline_strength(labels, edge_map)

    def _outline_strength(self, labels: np.ndarray, edge_map: EdgeMap) -> np.ndarray:
        rows, cols = np.nonzero(class_edges(labels) & (self.ids > 0))
        ids = self.ids[rows, cols]
        sums = np.bincount(ids, weights=edge_map.sample(rows, cols), minlength=len(self.areas))
        counts = np.bincount(ids, minlength=len(self.areas))
        return np.divide(sums, counts, out=np.zeros(len(self.areas)), where=counts > 0)

    def kept(self, crop: np.ndarray, window: tuple[slice, slice], winner: int, whole_share: float, min_area: int,
             class_maps: Mapping[int, GridMap] | None = None, feature_margin: float = 0.0,
             edge_strength: float | None = None) -> np.ndarray:
        """Bool crop (the mask's box) of the mask pixels whose region keeps its class against ``winner``.

        ``class_maps``: the LCM of each class (its largest object's); when the winner has one, a
        region is kept only if its mean LCM of the winner is ``feature_margin`` below the mean over
        the winner's own pixels in the mask, or (with ``edge_strength`` and an edge map) its outline's
        mean edge strength reaches ``edge_strength``.
        """
        ids = self.ids[window]
        inside = np.bincount(ids[crop], minlength=len(self.areas))
        keep = (inside > 0) & (self.classes != winner) & (self.classes >= 0) & (self.areas >= min_area) \
            & (inside >= whole_share * self.areas)
        if not keep.any():
            return np.zeros_like(crop)
        winner_map = None if class_maps is None else class_maps.get(winner)
        if winner_map is not None:
            outlined = (keep & (self.outline_strength >= edge_strength)
                        if edge_strength is not None and self.outline_strength is not None else np.zeros_like(keep))
            keep = self._unlike_winner(keep, crop, window, ids, winner, winner_map, feature_margin) | outlined
        return crop & keep[ids]

    def _unlike_winner(self, keep: np.ndarray, crop: np.ndarray, window: tuple[slice, slice], ids: np.ndarray,
                       winner: int, winner_map: GridMap, margin: float) -> np.ndarray:
        """``keep`` narrowed to regions whose mean winner-LCM is ``margin`` below the winner's own pixels'."""
        top, left = window[0].start, window[1].start
        own = crop & (self.labels[window] == winner)
        if not own.any():
            return keep
        rows, cols = np.nonzero(own)
        own_mean = float(sample_grid(winner_map, rows + top, cols + left).mean())
        candidates = crop & keep[ids]
        rows, cols = np.nonzero(candidates)
        values = sample_grid(winner_map, rows + top, cols + left)
        region = ids[rows, cols]
        sums = np.bincount(region, weights=values, minlength=len(self.areas))
        counts = np.bincount(region, minlength=len(self.areas))
        means = np.divide(sums, counts, out=np.full(len(self.areas), np.inf), where=counts > 0)
        return keep & (means < own_mean - margin)

"""Location confidence maps: mean cosine similarity of every image feature to an object's features.

LCMs are computed and kept on the encoder's feature grid (:class:`GridMap`, a few KB each); the
image-resolution map is built one object at a time, when read (docs/decisions/0008).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .engine import Embedding  # the encoder geometry comes from the embedding (its model family's adapter)
from .masks import CompactMask


def grid_stride(embedding: Embedding) -> int:
    """Encoder input pixels per feature cell (16 for SAM's 1024 input and 64x64 features)."""
    return embedding.stride


_LAST_FULL = threading.local()  # the last GridMap.full() per thread: (map, array); one map per thread is kept


@dataclass(frozen=True, eq=False)
class GridMap:
    """A map on the feature grid plus the geometry to show it at image resolution.

    values: rows x cols float32 (the valid grid, padding dropped); stride: encoder pixels per cell;
    input_size: (h, w) of the resized encoder input; original_size: (H, W) of the image.
    """

    values: np.ndarray
    stride: int
    input_size: tuple[int, int]
    original_size: tuple[int, int]

    def full(self, *, keep: bool = True) -> np.ndarray:
        """HxW float32 at image resolution: bilinear to the encoder input, padding cropped, bilinear to (H, W).

        With ``keep`` the last map built in this thread is kept and returned again on the next read of
        the same grid (a viewer redraws cheaply; do not modify it in place).
        """
        last = getattr(_LAST_FULL, "value", None)
        if last is not None and last[0] is self:
            return last[1]
        rows, cols = self.values.shape
        grid = torch.from_numpy(self.values)[None, None]
        upsampled = F.interpolate(grid, size=(rows * self.stride, cols * self.stride), mode="bilinear",
                                  align_corners=False)
        upsampled = upsampled[..., : self.input_size[0], : self.input_size[1]]
        full = F.interpolate(upsampled, size=self.original_size, mode="bilinear", align_corners=False)[0, 0].numpy()
        if keep:
            _LAST_FULL.value = (self, full)
        return full


def object_grid_weights(mask: np.ndarray, embedding: Embedding) -> torch.Tensor:
    """Share of each feature cell covered by one HxW bool mask: rows x cols float32, on the valid grid."""
    rows, cols = embedding.grid_size
    stride = grid_stride(embedding)
    tensor = torch.from_numpy(mask.astype(np.float32))[None, None]
    resized = F.interpolate(tensor, size=embedding.input_size, mode="bilinear", align_corners=False)
    del tensor
    padded = F.pad(resized, (0, cols * stride - embedding.input_size[1], 0, rows * stride - embedding.input_size[0]))
    return F.avg_pool2d(padded, stride)[0, 0]


def lcm_grids(masks: Sequence[CompactMask], embedding: Embedding) -> list[GridMap]:
    """One grid LCM per object mask (paper, Eq. 1); one full-resolution mask in memory at a time.

    LCM(i) = mean_j cos(f_i, f_j) over the object's feature cells j, computed as f_i . mean_j(f_j / |f_j|)
    with unit f_i; cells count as the object's when at least half covered (else its best-covered cell).
    """
    if len(masks) == 0:
        return []
    rows, cols = embedding.grid_size
    features = embedding.features[0, :, :rows, :cols].float().cpu()
    unit = F.normalize(features.reshape(features.shape[0], -1), dim=0)  # C x (rows*cols)
    weights = torch.stack([object_grid_weights(mask.dense(), embedding).reshape(-1) for mask in masks])  # K x cells
    members = weights >= 0.5
    empty = ~members.any(dim=1)
    if empty.any():
        best = weights[empty].argmax(dim=1)
        members[empty] = F.one_hot(best, weights.shape[1]).bool()
    prototypes = (members.float() @ unit.T) / members.sum(dim=1, keepdim=True)  # K x C
    similarity = (prototypes @ unit).reshape(len(masks), rows, cols).numpy()
    stride = grid_stride(embedding)
    return [GridMap(values, stride, tuple(embedding.input_size), tuple(embedding.original_size))
            for values in similarity]


def location_confidence_maps(masks: np.ndarray, embedding: Embedding) -> np.ndarray:
    """K x H x W float32 LCMs for K boolean HxW object masks (dense; for small images and tests)."""
    if len(masks) == 0:
        return np.zeros((0, *embedding.original_size), np.float32)
    grids = lcm_grids([CompactMask.from_dense(mask) for mask in masks], embedding)
    return np.stack([grid.full() for grid in grids])

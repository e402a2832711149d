"""Location confidence maps: mean cosine similarity of every image feature to an object's features."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .engine import ENCODER_SIZE, Embedding


def object_grid_weights(masks: np.ndarray, embedding: Embedding) -> torch.Tensor:
    """Share of each feature cell covered by each mask: K x rows x cols float, on the valid grid."""
    rows, cols = embedding.grid_size
    stride = ENCODER_SIZE // embedding.features.shape[-1]
    tensor = torch.from_numpy(masks.astype(np.float32))[:, None]
    resized = F.interpolate(tensor, size=embedding.input_size, mode="bilinear", align_corners=False)
    padded = F.pad(resized, (0, cols * stride - embedding.input_size[1], 0, rows * stride - embedding.input_size[0]))
    return F.avg_pool2d(padded, stride)[:, 0]


def location_confidence_maps(masks: np.ndarray, embedding: Embedding) -> np.ndarray:
    """K x H x W float32 LCMs for K boolean HxW object masks (paper, Eq. 1).

    LCM(i) = mean_j cos(f_i, f_j) over the object's feature cells j, computed as f_i . mean_j(f_j / |f_j|)
    with unit f_i; cells count as the object's when at least half covered (else its best-covered cell).
    """
    if len(masks) == 0:
        return np.zeros((0, *embedding.original_size), np.float32)
    rows, cols = embedding.grid_size
    features = embedding.features[0, :, :rows, :cols].float().cpu()
    unit = F.normalize(features.reshape(features.shape[0], -1), dim=0)  # C x (rows*cols)
    weights = object_grid_weights(masks, embedding).reshape(len(masks), -1)  # K x cells
    members = weights >= 0.5
    empty = ~members.any(dim=1)
    if empty.any():
        best = weights[empty].argmax(dim=1)
        members[empty] = F.one_hot(best, weights.shape[1]).bool()
    prototypes = (members.float() @ unit.T) / members.sum(dim=1, keepdim=True)  # K x C
    similarity = (prototypes @ unit).reshape(len(masks), 1, rows, cols)
    stride = ENCODER_SIZE // embedding.features.shape[-1]
    upsampled = F.interpolate(similarity, size=(rows * stride, cols * stride), mode="bilinear", align_corners=False)
    upsampled = upsampled[..., : embedding.input_size[0], : embedding.input_size[1]]
    full = F.interpolate(upsampled, size=embedding.original_size, mode="bilinear", align_corners=False)
    return full[:, 0].numpy()

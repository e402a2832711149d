"""segment-anything's automatic mask generator (the ``paper`` GRO profile) run on our engine.

The generator only needs a predictor that encodes a crop and decodes point batches; this one is
backed by a ``SamEngine`` (so crops go through its embedding cache and its family's adapter), which
lets the official generator run on every family. Also re-exports the generator's pure helpers.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import TYPE_CHECKING

import numpy as np
import torch
from segment_anything.automatic_mask_generator import SamAutomaticMaskGenerator as _OfficialGenerator
from segment_anything.utils.amg import (
    batched_mask_to_box,
    build_point_grid,
    calculate_stability_score,
    remove_small_regions,
    rle_to_mask,
)

if TYPE_CHECKING:
    from ..engine import Embedding, SamEngine

__all__ = ["EnginePredictor", "SamAutomaticMaskGenerator", "automatic_masks", "batched_mask_to_box",
           "build_point_grid", "calculate_stability_score", "remove_small_regions", "rle_to_mask"]


class _IdentityTransform:
    """Prompts stay in crop pixels: the engine maps them into the encoder frame itself."""

    @staticmethod
    def apply_coords(coords: np.ndarray, original_size: tuple[int, int]) -> np.ndarray:
        return coords


class EnginePredictor:
    """The slice of ``SamPredictor`` that the automatic mask generator uses, backed by a SamEngine."""

    def __init__(self, engine: SamEngine) -> None:
        self.engine = engine
        self.model = SimpleNamespace(mask_threshold=0.0)
        self.device = torch.device("cpu")
        self.transform = _IdentityTransform()
        self.embedding: Embedding | None = None
        self.prompt_count = 0

    def set_image(self, image: np.ndarray) -> None:
        """Encode an HxWx3 uint8 crop (through the engine's cache)."""
        self.embedding = self.engine.encode(np.ascontiguousarray(image))

    def reset_image(self) -> None:
        self.embedding = None

    def predict_torch(self, point_coords: torch.Tensor, point_labels: torch.Tensor, boxes: torch.Tensor | None = None,
                      mask_input: torch.Tensor | None = None, multimask_output: bool = True,
                      return_logits: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """N x P x 2 (x, y) crop pixels -> (masks N x M x h x w, scores N x M, low-res logits N x M x 256 x 256)."""
        from ..engine import Prompts

        assert self.embedding is not None, "set_image must be called before predict_torch"
        self.prompt_count += len(point_coords)
        decoded = self.engine.decode(self.embedding, Prompts(point_coords.numpy(), point_labels.numpy()),
                                     multimask=multimask_output)
        masks = self.engine.upscale(self.embedding, decoded.low_res_logits)
        if not return_logits:
            masks = masks > self.model.mask_threshold
        return masks, decoded.scores, decoded.low_res_logits


class SamAutomaticMaskGenerator(_OfficialGenerator):
    """The official generator, with its predictor replaced by an :class:`EnginePredictor`.

    ``model`` may be a SamEngine (any family) or, as before, a segment-anything ``Sam``.
    """

    def __init__(self, model, **settings) -> None:
        from ..engine import SamEngine

        if isinstance(model, SamEngine):
            shim = SimpleNamespace(image_encoder=SimpleNamespace(img_size=model.adapter.geometry.encoder_size),
                                   mask_threshold=0.0)
            super().__init__(shim, **settings)
            self.predictor = EnginePredictor(model)
        else:
            super().__init__(model, **settings)


def automatic_masks(engine: SamEngine, image: np.ndarray, **settings) -> tuple[np.ndarray, np.ndarray, int]:
    """Run the generator on an HxWx3 uint8 image. ``settings`` are the generator's keyword arguments.

    Returns (masks M x H x W bool, predicted IoU scores M float32, prompts decoded).
    """
    generator = SamAutomaticMaskGenerator(engine, **settings)
    records = generator.generate(image)
    spent = generator.predictor.prompt_count
    if not records:
        return np.zeros((0, *image.shape[:2]), bool), np.zeros(0, np.float32), spent
    masks = np.stack([record["segmentation"] for record in records])
    scores = np.array([record["predicted_iou"] for record in records], np.float32)
    return masks, scores, spent

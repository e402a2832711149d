"""SAM v1 (vit_b / vit_l / vit_h) through the official ``segment-anything`` package.

The same adapter serves every model built on segment-anything's ``Sam`` (MobileSAM's TinyViT
encoder sits on the same prompt encoder and mask decoder).
"""

from __future__ import annotations

import os

import numpy as np
import torch

from . import fast_decoder
from .base import IMAGE_EMBED, DecoderPath, Family, FeatureSet, ModelAdapter, resize_rgb

DECODER_ENV = "UOSAM_DECODER"  # "reference" forces segment-anything's own decoder (for comparisons)


def build(model_type: str) -> torch.nn.Module:
    """A randomly initialised segment-anything ``Sam`` of ``model_type`` (vit_b / vit_l / vit_h)."""
    from segment_anything import sam_model_registry

    return sam_model_registry[model_type](checkpoint=None).eval()


class SamV1Adapter(ModelAdapter):
    """A segment-anything ``Sam``: ViT encoder -> one 1 x 256 x 64 x 64 embedding; v1 mask decoder."""

    family = Family.SAM

    def __init__(self, module: torch.nn.Module, model_type: str) -> None:
        super().__init__(module, model_type)
        self.fused = None
        if fast_decoder.supports(module.mask_decoder):
            self.fused = fast_decoder.FusedSamDecoder(module.mask_decoder, module.prompt_encoder)
        wanted = os.environ.get(DECODER_ENV, DecoderPath.FUSED.value)
        self.decoder_path = DecoderPath.REFERENCE if wanted == DecoderPath.REFERENCE.value else DecoderPath.FUSED

    @property
    def encoder(self) -> torch.nn.Module:
        return self.module.image_encoder

    def preprocess(self, image: np.ndarray, device: torch.device) -> torch.Tensor:
        """Resize the longest side to 1024 (as uint8 values), normalise, pad to 1024 x 1024."""
        input_size = self.geometry.input_size(image.shape[:2])
        tensor = resize_rgb(image, input_size, round_to_uint8=True)
        return self.module.preprocess(tensor.to(device))

    def encode(self, batch: torch.Tensor) -> FeatureSet:
        return {IMAGE_EMBED: self.module.image_encoder(batch)}

    def decode(self, features: FeatureSet, points: tuple[torch.Tensor, torch.Tensor] | None,
               boxes: torch.Tensor | None, masks: torch.Tensor | None,
               multimask: bool, min_score: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        sparse, dense = self.module.prompt_encoder(points=points, boxes=boxes, masks=masks)
        extras = self.decoder_extras(features)
        if self.fused is not None and self.decoder_path is DecoderPath.FUSED and not extras:
            return self.fused(features[IMAGE_EMBED], sparse, None if masks is None else dense, multimask, min_score)
        return self.module.mask_decoder(
            image_embeddings=features[IMAGE_EMBED],
            image_pe=self.module.prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=multimask,
            **extras,
        )

    def decoder_extras(self, features: FeatureSet) -> dict:
        """Extra keyword arguments of this family's mask decoder (none for SAM v1)."""
        return {}

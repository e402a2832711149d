"""HQ-SAM (vit_tiny / vit_b / vit_l / vit_h) through the ``segment-anything-hq`` package.

HQ-SAM adds an HQ output token and a fusion of an early encoder layer to SAM's decoder. Decoding
uses the package's default output, SAM's best mask plus the HQ mask (``hq_token_only=False``), so
every prompt gives one mask (M = 1) whether or not multimask output is asked for.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from .base import IMAGE_EMBED, Family, FeatureSet, ModelAdapter, resize_rgb

INTERM = "interm_embed"  # 1 x 64 x 64 x C: the encoder's first global-attention (or TinyViT stage-1) output
BUILDERS = {"hq_vit_tiny": "vit_tiny", "hq_vit_b": "vit_b", "hq_vit_l": "vit_l", "hq_vit_h": "vit_h"}


def _registry() -> dict:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, module="timm")
        warnings.filterwarnings("ignore", category=UserWarning, message="Overwriting tiny_vit")
        from segment_anything_hq.build_sam import sam_model_registry
    return sam_model_registry


def build(model_type: str) -> torch.nn.Module:
    """A randomly initialised HQ-SAM of ``model_type`` (hq_vit_tiny / hq_vit_b / hq_vit_l / hq_vit_h)."""
    return _registry()[BUILDERS[model_type]](checkpoint=None).eval()


class HqSamAdapter(ModelAdapter):
    """HQ-SAM: encoder -> embedding + early-layer features; HQ decoder -> one mask per prompt."""

    family = Family.HQ_SAM

    @property
    def encoder(self) -> torch.nn.Module:
        return self.module.image_encoder

    def multimask_outputs(self, multimask: bool) -> int:
        return 1

    def preprocess(self, image: np.ndarray, device: torch.device) -> torch.Tensor:
        """Resize the longest side to 1024 (as uint8 values), normalise, pad to 1024 x 1024."""
        input_size = self.geometry.input_size(image.shape[:2])
        tensor = resize_rgb(image, input_size, round_to_uint8=True)
        return self.module.preprocess(tensor.to(device))

    def encode(self, batch: torch.Tensor) -> FeatureSet:
        embedding, interm = self.module.image_encoder(batch)
        return {IMAGE_EMBED: embedding, INTERM: interm[0]}

    def decode(self, features: FeatureSet, points: tuple[torch.Tensor, torch.Tensor] | None,
               boxes: torch.Tensor | None, masks: torch.Tensor | None,
               multimask: bool) -> tuple[torch.Tensor, torch.Tensor]:
        sparse, dense = self.module.prompt_encoder(points=points, boxes=boxes, masks=masks)
        return self.module.mask_decoder(
            image_embeddings=features[IMAGE_EMBED],
            image_pe=self.module.prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=multimask,
            hq_token_only=False,
            interm_embeddings=[features[INTERM]],
        )

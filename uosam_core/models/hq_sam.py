"""HQ-SAM (vit_tiny / vit_b / vit_l / vit_h) through the ``segment-anything-hq`` package.

HQ-SAM adds an HQ output token and a fusion of an early encoder layer to SAM's decoder. Decoding
uses the package's default output, SAM's best mask plus the HQ mask (``hq_token_only=False``), so
every prompt gives one mask (M = 1) whether or not multimask output is asked for.
"""

from __future__ import annotations

import warnings

import torch

from .base import IMAGE_EMBED, Family, FeatureSet
from .sam_v1 import SamV1Adapter

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


class HqSamAdapter(SamV1Adapter):
    """HQ-SAM: SAM v1's preprocessing and prompt encoder; the encoder also returns early-layer features,
    which the HQ decoder fuses into one mask per prompt."""

    family = Family.HQ_SAM

    def multimask_outputs(self, multimask: bool) -> int:
        return 1

    def encode(self, batch: torch.Tensor) -> FeatureSet:
        embedding, interm = self.module.image_encoder(batch)
        return {IMAGE_EMBED: embedding, INTERM: interm[0]}

    def decoder_extras(self, features: FeatureSet) -> dict:
        """SAM's best mask plus the HQ mask, from the early-layer features."""
        return {"hq_token_only": False, "interm_embeddings": [features[INTERM]]}

"""MobileSAM (vit_t): MobileSAM's TinyViT encoder on segment-anything's prompt encoder and decoder.

Only the encoder comes from the ``mobile_sam`` package; its import-time warnings (deprecated
``timm`` paths, re-registered TinyViT names) are about that package, so they are hidden here,
scoped to the import alone.
"""

from __future__ import annotations

import warnings

import torch

from .base import Family
from .sam_v1 import SamV1Adapter


def _tiny_vit() -> type:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, module="timm")
        warnings.filterwarnings("ignore", message="Overwriting tiny_vit", category=UserWarning)
        from mobile_sam.modeling.tiny_vit_sam import TinyViT
    return TinyViT


def build(model_type: str = "vit_t") -> torch.nn.Module:
    """A randomly initialised MobileSAM: TinyViT-5M encoder, SAM v1 prompt encoder and mask decoder."""
    from segment_anything.modeling import MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

    encoder = _tiny_vit()(img_size=1024, in_chans=3, num_classes=1000, embed_dims=[64, 128, 160, 320],
                          depths=[2, 2, 6, 2], num_heads=[2, 4, 5, 10], window_sizes=[7, 7, 14, 7],
                          mlp_ratio=4.0, drop_rate=0.0, drop_path_rate=0.0, use_checkpoint=False,
                          mbconv_expand_ratio=4.0, local_conv_size=3, layer_lr_decay=0.8)
    model = Sam(
        image_encoder=encoder,
        prompt_encoder=PromptEncoder(embed_dim=256, image_embedding_size=(64, 64), input_image_size=(1024, 1024),
                                     mask_in_chans=16),
        mask_decoder=MaskDecoder(num_multimask_outputs=3,
                                 transformer=TwoWayTransformer(depth=2, embedding_dim=256, mlp_dim=2048, num_heads=8),
                                 transformer_dim=256, iou_head_depth=3, iou_head_hidden_dim=256),
        pixel_mean=[123.675, 116.28, 103.53],
        pixel_std=[58.395, 57.12, 57.375],
    )
    return model.eval()


class MobileSamAdapter(SamV1Adapter):
    """MobileSAM: decoded exactly as SAM v1 (same prompt encoder and mask decoder)."""

    family = Family.MOBILE_SAM

"""SAM 2 / SAM 2.1 (Hiera tiny / small / base+ / large) through the ``sam2`` package (optional extra).

Only the image path is used: the Hiera encoder with its FPN neck (the 64 x 64 embedding plus the
256 x 256 and 128 x 128 high-resolution maps the decoder fuses), the prompt encoder and the mask
decoder, exactly as ``SAM2ImagePredictor`` runs them. SAM 2 stretches the image to 1024 x 1024
(no padding), so the input frame is the whole square.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .base import IMAGE_EMBED, Family, FeatureSet, Geometry, ModelAdapter, resize_rgb

HIGH_RES = ("high_res_0", "high_res_1")  # 1 x 32 x 256 x 256 and 1 x 64 x 128 x 128
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def config_name(model_type: str) -> str:
    """The package's hydra config of a model type, e.g. sam2.1_hiera_t -> configs/sam2.1/sam2.1_hiera_t.yaml."""
    version = model_type.split("_hiera_")[0]
    return f"configs/{version}/{model_type}.yaml"


def build(model_type: str) -> torch.nn.Module:
    """A randomly initialised SAM 2 model of ``model_type`` (e.g. sam2.1_hiera_t), on the CPU, eval mode."""
    from sam2.build_sam import build_sam2

    return build_sam2(config_name(model_type), ckpt_path=None, device="cpu", mode="eval")


class Sam2Adapter(ModelAdapter):
    """SAM 2.x: Hiera encoder -> embedding + two high-res maps; SAM 2 mask decoder."""

    family = Family.SAM2
    geometry = Geometry(encoder_size=1024, low_res=256, keeps_aspect=False)

    @property
    def encoder(self) -> torch.nn.Module:
        return self.module.image_encoder

    def preprocess(self, image: np.ndarray, device: torch.device) -> torch.Tensor:
        """Stretch to 1024 x 1024, scale to 0..1, normalise with the ImageNet mean and std."""
        side = self.module.image_size
        tensor = resize_rgb(image, (side, side), round_to_uint8=False) / 255.0
        return ((tensor - MEAN) / STD).to(device)

    def encode(self, batch: torch.Tensor) -> FeatureSet:
        model = self.module
        backbone_out = model.forward_image(batch)
        _, vision_feats, _, feat_sizes = model._prepare_backbone_features(backbone_out)
        if model.directly_add_no_mem_embed:
            vision_feats[-1] = vision_feats[-1] + model.no_mem_embed
        maps = [feat.permute(1, 2, 0).reshape(1, -1, *size) for feat, size in zip(vision_feats, feat_sizes)]
        return {IMAGE_EMBED: maps[-1], HIGH_RES[0]: maps[0], HIGH_RES[1]: maps[1]}

    def decode(self, features: FeatureSet, points: tuple[torch.Tensor, torch.Tensor] | None,
               boxes: torch.Tensor | None, masks: torch.Tensor | None,
               multimask: bool, min_score: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """As SAM2ImagePredictor: a box becomes two corner points (labels 2, 3) before the points."""
        model = self.module
        if boxes is not None:
            corners = boxes.reshape(-1, 2, 2)
            corner_labels = torch.tensor([[2, 3]], dtype=torch.int64, device=boxes.device).repeat(len(boxes), 1)
            if points is None:
                points = (corners, corner_labels)
            else:
                points = (torch.cat([corners, points[0]], dim=1), torch.cat([corner_labels, points[1]], dim=1))
        sparse, dense = model.sam_prompt_encoder(points=points, boxes=None, masks=masks)
        low_res, iou, _, _ = model.sam_mask_decoder(
            image_embeddings=features[IMAGE_EMBED],
            image_pe=model.sam_prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=multimask,
            repeat_image=True,
            high_res_features=[features[HIGH_RES[0]], features[HIGH_RES[1]]],
        )
        return low_res.clamp(-32.0, 32.0), iou

    def upscale(self, low_res_logits: torch.Tensor, input_size: tuple[int, int],
                original_size: tuple[int, int]) -> torch.Tensor:
        """SAM 2's postprocessing: the whole 256 x 256 grid straight to the original (H, W)."""
        if low_res_logits.shape[0] == 0:
            return low_res_logits.new_zeros((0, low_res_logits.shape[1], *original_size))
        return F.interpolate(low_res_logits, original_size, mode="bilinear", align_corners=False)

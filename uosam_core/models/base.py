"""The one interface every SAM-family model is used through (docs/decisions/0009-model-families.md).

An adapter wraps one built ``torch.nn.Module`` of one family. It turns an HxWx3 uint8 image into a
*feature set* (``dict[str, Tensor]``; ``"image_embed"`` is always the 1 x 256 x 64 x 64 float
embedding the prompts are decoded against and the LCM is computed on; families add their extra
tensors, e.g. SAM 2's high-resolution maps) and decodes batches of prompts, given in the encoder's
input frame, to low-res logits N x M x 256 x 256 and predicted IoU scores N x M.
"""

from __future__ import annotations

import enum
import functools
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

FeatureSet = dict[str, torch.Tensor]
IMAGE_EMBED = "image_embed"


@functools.lru_cache(maxsize=32)
def axis_resampling(low_res: int, encoder_size: int, crop: int, original: int) -> torch.Tensor:
    """original x low_res float32 matrix of one axis of SAM's postprocessing: bilinear low_res ->
    encoder_size, the first ``crop`` kept, bilinear -> original (align_corners=False), with the weights
    F.interpolate itself computes (it resamples the identity)."""
    identity = torch.eye(low_res).view(1, low_res, low_res, 1)  # channel c: a unit signal at c
    full = F.interpolate(identity, (encoder_size, 1), mode="bilinear", align_corners=False)[:, :, :crop]
    resampled = F.interpolate(full, (original, 1), mode="bilinear", align_corners=False)
    return resampled[0, :, :, 0].t().contiguous()


class DecoderPath(enum.Enum):
    """How a SAM v1-style mask decoder is run: the fused CPU path (models/fast_decoder.py) or the package's own."""

    FUSED = "fused"
    REFERENCE = "reference"


class Family(enum.Enum):
    """The model families the tool can run; the value is shown to users."""

    SAM = "SAM"
    MOBILE_SAM = "MobileSAM"
    SAM2 = "SAM 2"
    HQ_SAM = "HQ-SAM"


@dataclass(frozen=True)
class Geometry:
    """How an image maps into the encoder.

    encoder_size: side of the square encoder input (pixels); low_res: side of the decoder's
    low-res logits; keeps_aspect: True when the longest side is resized to ``encoder_size`` and the
    rest padded (SAM v1 family), False when the image is stretched to the full square (SAM 2).
    """

    encoder_size: int = 1024
    low_res: int = 256
    keeps_aspect: bool = True

    def input_size(self, original_size: tuple[int, int]) -> tuple[int, int]:
        """(h, w) of the resized image inside the encoder input, before padding."""
        if not self.keeps_aspect:
            return (self.encoder_size, self.encoder_size)
        height, width = original_size
        scale = self.encoder_size / max(height, width)
        return (max(1, int(height * scale + 0.5)), max(1, int(width * scale + 0.5)))  # a 1x3000 strip keeps 1 row


def resize_rgb(image: np.ndarray, size: tuple[int, int], *, round_to_uint8: bool) -> torch.Tensor:
    """HxWx3 uint8 -> 1 x 3 x h x w float32 (0..255), antialiased bilinear resize."""
    tensor = torch.from_numpy(np.array(image, copy=True)).permute(2, 0, 1)[None].float()
    tensor = F.interpolate(tensor, size=size, mode="bilinear", align_corners=False, antialias=True)
    tensor = tensor.clamp(0, 255)
    return tensor.round() if round_to_uint8 else tensor


class ModelAdapter(ABC):
    """One loaded model of one family behind the common interface. ``module`` is the torch model."""

    family: Family
    geometry: Geometry = Geometry()

    def __init__(self, module: torch.nn.Module, model_type: str) -> None:
        self.module = module
        self.model_type = model_type

    @property
    @abstractmethod
    def encoder(self) -> torch.nn.Module:
        """The image encoder (its blocks get the pause points)."""

    def encoder_blocks(self) -> list[torch.nn.Module]:
        """The encoder's repeated blocks (modules named ``...blocks.N``), in order."""
        blocks = []
        for name, module in self.encoder.named_modules():
            parts = name.split(".")
            if len(parts) >= 2 and parts[-2] == "blocks" and parts[-1].isdigit():
                blocks.append(module)
        return blocks

    def multimask_outputs(self, multimask: bool) -> int:
        """M, the masks per prompt that :meth:`decode` returns."""
        return 3 if multimask else 1

    @abstractmethod
    def preprocess(self, image: np.ndarray, device: torch.device) -> torch.Tensor:
        """HxWx3 uint8 RGB -> 1 x 3 x S x S normalised (and padded) encoder input on ``device``."""

    @abstractmethod
    def encode(self, batch: torch.Tensor) -> FeatureSet:
        """Run the encoder on a preprocessed 1 x 3 x S x S batch; ``"image_embed"`` 1 x 256 x 64 x 64."""

    @abstractmethod
    def decode(self, features: FeatureSet, points: tuple[torch.Tensor, torch.Tensor] | None,
               boxes: torch.Tensor | None, masks: torch.Tensor | None,
               multimask: bool, min_score: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Decode N prompts against one image's features.

        points: (N x P x 2 float (x, y) in the encoder input frame, N x P int64 labels 1/0/-1);
        boxes: N x 4 float XYXY in the encoder input frame; masks: N x 1 x 256 x 256 float logits.
        Returns (low-res logits N x M x 256 x 256, predicted IoU N x M). ``min_score``: the caller reads
        the logits only of prompts with a mask predicted above it; an adapter may leave the others'
        logits undecoded (a constant below any mask threshold).
        """

    def upscale(self, low_res_logits: torch.Tensor, input_size: tuple[int, int],
                original_size: tuple[int, int]) -> torch.Tensor:
        """N x C x 256 x 256 low-res logits -> N x C x H x W logits of the original image.

        SAM's postprocessing: to the encoder size, drop the padding, then to the original (H, W). Up to
        the encoder size that chain is two small products with its per-axis matrices (2x faster than
        two interpolations, equal to float rounding); larger images interpolate.
        """
        if low_res_logits.shape[0] == 0:
            return low_res_logits.new_zeros((0, low_res_logits.shape[1], *original_size))
        side = self.geometry.encoder_size
        low = low_res_logits.shape[-1]
        if max(original_size) <= side and low_res_logits.shape[-2] == low:
            rows = axis_resampling(low, side, input_size[0], original_size[0]).to(low_res_logits.device)
            cols = axis_resampling(low, side, input_size[1], original_size[1]).to(low_res_logits.device)
            return torch.matmul(torch.matmul(rows, low_res_logits), cols.t())
        full = F.interpolate(low_res_logits, (side, side), mode="bilinear", align_corners=False)
        full = full[..., : input_size[0], : input_size[1]]
        return F.interpolate(full, original_size, mode="bilinear", align_corners=False)

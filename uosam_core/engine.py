"""SAM-family model loaded once: ``encode(image) -> Embedding`` and batched ``decode``.

The embedding is a value, not hidden predictor state, so callers can cache, prefetch and share it.
Coordinates everywhere are (x, y) pixels of the original image; boxes are XYXY.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import weights
from .embedding_cache import EmbeddingCache

ENCODER_SIZE = 1024
LOW_RES = 256


@dataclass(frozen=True)
class Embedding:
    """An encoded image: SAM features (1x256x64x64 float32) plus the geometry to map prompts."""

    features: torch.Tensor
    original_size: tuple[int, int]  # (H, W) of the image
    input_size: tuple[int, int]  # (h, w) after resizing the longest side to 1024, before padding
    key: str  # model id + sha256 of the image pixels

    @property
    def grid_size(self) -> tuple[int, int]:
        """(rows, cols) of the feature grid that the image covers (the rest is padding)."""
        stride = ENCODER_SIZE // self.features.shape[-1]
        return (-(-self.input_size[0] // stride), -(-self.input_size[1] // stride))


@dataclass(frozen=True)
class Prompts:
    """A batch of N prompts for one image; every field has N rows, or is None for the whole batch.

    points: N x P x 2 float (x, y) pixels; point_labels: N x P int (1 positive, 0 negative, -1 pad);
    boxes: N x 4 float XYXY pixels; mask_inputs: N x 1 x 256 x 256 float logits from an earlier decode.
    """

    points: np.ndarray | None = None
    point_labels: np.ndarray | None = None
    boxes: np.ndarray | None = None
    mask_inputs: torch.Tensor | None = None

    def __len__(self) -> int:
        for field in (self.points, self.boxes, self.mask_inputs):
            if field is not None:
                return len(field)
        return 0


@dataclass(frozen=True)
class Decoded:
    """Decoder output: low_res_logits N x M x 256 x 256 and scores (predicted IoU) N x M."""

    low_res_logits: torch.Tensor
    scores: torch.Tensor


def image_key(image: np.ndarray, model_id: str) -> str:
    """Cache key of an image for one model: its pixels' sha256 and shape."""
    digest = hashlib.sha256(np.ascontiguousarray(image).tobytes()).hexdigest()
    return f"{model_id}-{image.shape[0]}x{image.shape[1]}-{digest[:32]}"


def infer_model_type(state_dict: dict[str, torch.Tensor]) -> str:
    """Tell vit_t / vit_b / vit_l / vit_h apart from the keys and shapes of a SAM state dict."""
    if any(key.startswith("image_encoder.layers.") for key in state_dict):
        return "vit_t"
    patch = state_dict.get("image_encoder.patch_embed.proj.weight")
    if patch is None:
        raise weights.CheckpointError("not a SAM-family state dict (no image encoder weights)")
    by_width = {768: "vit_b", 1024: "vit_l", 1280: "vit_h"}
    width = int(patch.shape[0])
    if width not in by_width:
        raise weights.CheckpointError(f"unknown SAM encoder width {width}")
    return by_width[width]


def pick_device(device: str) -> torch.device:
    """'auto' takes CUDA when present; 'cuda' without a GPU raises a clear error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("--device cuda asked for, but torch sees no CUDA device")
    return torch.device(device)


class SamEngine:
    """One loaded SAM-family model with an embedding cache. Build it with :meth:`load`."""

    def __init__(self, model: torch.nn.Module, model_type: str, model_id: str, device: torch.device,
                 cache: EmbeddingCache | None = None) -> None:
        self.model = model
        self.model_type = model_type
        self.model_id = model_id
        self.device = device
        self.cache = cache if cache is not None else EmbeddingCache()
        self.half = device.type == "cuda"
        self.encode_count = 0
        self._pause = threading.local()  # per-thread pause point between decoder chunks / encoder blocks
        for name, module in model.image_encoder.named_modules():
            parts = name.split(".")
            if len(parts) >= 2 and parts[-2] == "blocks" and parts[-1].isdigit():
                module.register_forward_pre_hook(self._pause_hook)

    @classmethod
    def load(cls, model_type: str | None = None, checkpoint: Path | str | None = None, device: str = "auto",
             cache: EmbeddingCache | None = None) -> SamEngine:
        """Load a checkpoint (default: MobileSAM from the user cache, fetched when missing)."""
        from .sam_package import sam_model_registry

        path, model_type = weights.resolve(model_type, Path(checkpoint) if checkpoint else None)
        try:
            state_dict = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as problem:
            raise weights.CheckpointError(f"{path}: cannot be read as a torch checkpoint ({problem})") from None
        if isinstance(state_dict, dict) and "model" in state_dict and isinstance(state_dict["model"], dict):
            state_dict = state_dict["model"]
        inferred = infer_model_type(state_dict)
        if model_type is not None and model_type != inferred:
            raise weights.CheckpointError(f"{path}: holds a {inferred} model, not {model_type}")
        model = sam_model_registry[inferred](checkpoint=None)
        missing, unexpected = model.load_state_dict(state_dict, strict=False)
        if missing:
            raise weights.CheckpointError(f"{path}: state dict lacks {len(missing)} weights, e.g. {missing[0]}")
        torch_device = pick_device(device)
        model.to(torch_device).eval()
        model_id = f"{inferred}-{weights.sha256_of(path)[:12]}"
        return cls(model, inferred, model_id, torch_device, cache)

    # ----------------------------------------------------------------- encoding
    def _preprocess(self, image: np.ndarray) -> tuple[torch.Tensor, tuple[int, int]]:
        height, width = image.shape[:2]
        scale = ENCODER_SIZE / max(height, width)
        input_size = (int(height * scale + 0.5), int(width * scale + 0.5))
        tensor = torch.from_numpy(np.array(image, copy=True)).permute(2, 0, 1)[None].float()
        tensor = F.interpolate(tensor, size=input_size, mode="bilinear", align_corners=False, antialias=True)
        tensor = tensor.clamp(0, 255).round()
        return self.model.preprocess(tensor.to(self.device)), input_size

    @torch.inference_mode()
    def encode(self, image: np.ndarray) -> Embedding:
        """Encode an HxWx3 uint8 RGB image once; cached by pixel content and model."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"encode needs an HxWx3 uint8 RGB image, got {image.shape} {image.dtype}")
        key = image_key(image, self.model_id)
        cached = self.cache.get(key)
        if cached is not None:
            features, input_size = cached
            return Embedding(features.to(self.device), image.shape[:2], input_size, key)
        batch, input_size = self._preprocess(image)
        if self.half:
            with torch.autocast("cuda", dtype=torch.float16):
                features = self.model.image_encoder(batch)
        else:
            features = self.model.image_encoder(batch)
        features = features.float()
        self.encode_count += 1
        self.cache.put(key, features, input_size)
        return Embedding(features, (image.shape[0], image.shape[1]), input_size, key)

    def _pause_hook(self, module: torch.nn.Module, inputs: tuple) -> None:
        pause = getattr(self._pause, "value", None)
        if pause is not None:
            pause[0]()

    @contextlib.contextmanager
    def pause_points(self, pause: Callable[[], None], chunk: int = 4) -> Iterator[None]:
        """In this thread, call ``pause()`` before every image-encoder block and every decoder chunk of
        ``chunk`` prompts.

        Lets a long background run yield to interactive work (or stop, by raising) every few prompts
        instead of once per large batch; results are the same.
        """
        previous = getattr(self._pause, "value", None)
        self._pause.value = (pause, chunk)
        try:
            yield
        finally:
            self._pause.value = previous

    # ----------------------------------------------------------------- decoding
    def _to_input_frame(self, coords: np.ndarray, embedding: Embedding) -> torch.Tensor:
        scale_y = embedding.input_size[0] / embedding.original_size[0]
        scale_x = embedding.input_size[1] / embedding.original_size[1]
        scaled = np.asarray(coords, dtype=np.float32).copy()
        scaled[..., 0::2] *= scale_x
        scaled[..., 1::2] *= scale_y
        return torch.from_numpy(scaled).to(self.device)

    @torch.inference_mode()
    def decode(self, embedding: Embedding, prompts: Prompts, multimask: bool = True,
               batch_size: int = 64) -> Decoded:
        """Decode N prompts against one embedding, ``batch_size`` at a time.

        Returns 3 masks per prompt when ``multimask`` else 1, as 256x256 low-res logits.
        """
        count = len(prompts)
        if count == 0:
            outputs = 3 if multimask else 1
            return Decoded(torch.zeros(0, outputs, LOW_RES, LOW_RES), torch.zeros(0, outputs))
        logits, scores = [], []
        dense_pe = self.model.prompt_encoder.get_dense_pe()
        pause = getattr(self._pause, "value", None)
        if pause is not None:
            batch_size = min(batch_size, pause[1])
        for start in range(0, count, batch_size):
            if pause is not None:
                pause[0]()
            part = slice(start, min(start + batch_size, count))
            points = None
            if prompts.points is not None:
                labels = torch.from_numpy(np.asarray(prompts.point_labels[part], dtype=np.int64)).to(self.device)
                points = (self._to_input_frame(prompts.points[part], embedding), labels)
            boxes = None if prompts.boxes is None else self._to_input_frame(prompts.boxes[part], embedding)
            masks = None if prompts.mask_inputs is None else prompts.mask_inputs[part].to(self.device)
            sparse, dense = self.model.prompt_encoder(points=points, boxes=boxes, masks=masks)
            low_res, iou = self.model.mask_decoder(
                image_embeddings=embedding.features,
                image_pe=dense_pe,
                sparse_prompt_embeddings=sparse,
                dense_prompt_embeddings=dense,
                multimask_output=multimask,
            )
            logits.append(low_res.float().cpu())
            scores.append(iou.float().cpu())
        return Decoded(torch.cat(logits), torch.cat(scores))

    def upscale(self, embedding: Embedding, low_res_logits: torch.Tensor) -> torch.Tensor:
        """Map N x C x 256 x 256 low-res logits to N x C x H x W logits of the original image."""
        return upscale_logits(low_res_logits, embedding.input_size, embedding.original_size)


def upscale_logits(low_res_logits: torch.Tensor, input_size: tuple[int, int],
                   original_size: tuple[int, int]) -> torch.Tensor:
    """SAM's postprocessing: to 1024, drop the padding, then to the original (H, W)."""
    if low_res_logits.shape[0] == 0:
        return low_res_logits.new_zeros((0, low_res_logits.shape[1], *original_size))
    full = F.interpolate(low_res_logits, (ENCODER_SIZE, ENCODER_SIZE), mode="bilinear", align_corners=False)
    full = full[..., : input_size[0], : input_size[1]]
    return F.interpolate(full, original_size, mode="bilinear", align_corners=False)


def crop_low_res(low_res_logits: torch.Tensor, input_size: tuple[int, int]) -> torch.Tensor:
    """The part of 256x256 low-res logits that covers the image (padding dropped)."""
    rows = -(-input_size[0] * LOW_RES // ENCODER_SIZE)
    cols = -(-input_size[1] * LOW_RES // ENCODER_SIZE)
    return low_res_logits[..., :rows, :cols]

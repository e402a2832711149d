"""SAM-family model loaded once: ``encode(image) -> Embedding`` and batched ``decode``.

The embedding is a value, not hidden predictor state, so callers can cache, prefetch and share it.
Coordinates everywhere are (x, y) pixels of the original image; boxes are XYXY. The model itself
is used only through its family's adapter (``uosam_core.models``).
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import allocator, weights
from .embedding_cache import EmbeddingCache
from .models import IMAGE_EMBED, Family, FeatureSet, ModelAdapter, StateDictError, make_adapter
from .models import registry as model_registry

ENCODER_SIZE = 1024  # SAM-family defaults; the geometry of an embedding is on the Embedding
LOW_RES = 256


@dataclass(frozen=True)
class Embedding:
    """An encoded image and the geometry to map prompts and masks.

    features: 1 x C x g x g float32 image embedding (C = 256, g = 64 for every family), the grid the
    LCM is computed on; extras: the family's other encoder outputs (SAM 2: ``high_res_0`` 1x32x256x256
    and ``high_res_1`` 1x64x128x128; HQ-SAM: ``interm_embed`` 1x64x64xC), empty for SAM / MobileSAM.
    input_size: (h, w) of the image inside the encoder_size x encoder_size input, before padding.
    """

    features: torch.Tensor
    original_size: tuple[int, int]  # (H, W) of the image
    input_size: tuple[int, int]
    key: str  # model id + sha256 of the image pixels
    extras: Mapping[str, torch.Tensor] = field(default_factory=dict)
    encoder_size: int = ENCODER_SIZE
    low_res_size: int = LOW_RES

    @property
    def stride(self) -> int:
        """Encoder input pixels per feature cell (16 for every family)."""
        return self.encoder_size // self.features.shape[-1]

    @property
    def grid_size(self) -> tuple[int, int]:
        """(rows, cols) of the feature grid that the image covers (the rest is padding)."""
        return (-(-self.input_size[0] // self.stride), -(-self.input_size[1] // self.stride))

    def crop_low_res(self, low_res_logits: torch.Tensor) -> torch.Tensor:
        """The part of ... x low_res x low_res logits that covers the image (padding dropped)."""
        return crop_low_res(low_res_logits, self.input_size, self.encoder_size, self.low_res_size)

    def feature_set(self, device: torch.device | None = None) -> FeatureSet:
        """All encoder outputs by name, as the adapter's decode takes them."""
        tensors = {IMAGE_EMBED: self.features, **self.extras}
        return tensors if device is None else {name: value.to(device) for name, value in tensors.items()}


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
        for value in (self.points, self.boxes, self.mask_inputs):
            if value is not None:
                return len(value)
        return 0


@dataclass(frozen=True)
class Decoded:
    """Decoder output: low_res_logits N x M x 256 x 256 float32 and scores (predicted IoU) N x M.

    M is 3 with multimask output and 1 without (HQ-SAM always gives 1).
    """

    low_res_logits: torch.Tensor
    scores: torch.Tensor


def image_key(image: np.ndarray, model_id: str) -> str:
    """Cache key of an image for one model: its pixels' sha256 and shape."""
    digest = hashlib.sha256(np.ascontiguousarray(image).tobytes()).hexdigest()
    return f"{model_id}-{image.shape[0]}x{image.shape[1]}-{digest[:32]}"


def infer_model_type(state_dict: Mapping[str, torch.Tensor]) -> str:
    """The model type of a SAM-family state dict (vit_t, vit_b, hq_vit_b, sam2.1_hiera_t, ...)."""
    try:
        return model_registry.infer_model_type(state_dict)
    except StateDictError as problem:
        raise weights.CheckpointError(str(problem)) from None


def pick_device(device: str) -> torch.device:
    """'auto' takes CUDA when present; 'cuda' without a GPU raises a clear error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("--device cuda asked for, but torch sees no CUDA device")
    return torch.device(device)


def _locate(model_type: str | None, checkpoint: Path | str | None) -> weights.CheckedFile:
    """The hash-checked checkpoint file to load: an explicit one, else the known default (fetched)."""
    if checkpoint is not None:
        return weights.check_file(Path(checkpoint), model_type)
    model_type = model_type or weights.DEFAULT_MODEL_TYPE
    if model_type not in weights.KNOWN_CHECKPOINTS:
        raise weights.CheckpointError(f"no known download for {model_type}: pass its file with --checkpoint")
    return weights.CheckedFile(weights.fetch(model_type), weights.known(model_type).sha256, model_type)


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A checkpoint's state dict, loaded ``weights_only``; CheckpointError (one line) for anything else."""
    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as problem:  # noqa: BLE001 - every unreadable file is the same user error
        first_line = str(problem).strip().splitlines()[0] if str(problem).strip() else type(problem).__name__
        if len(first_line) < 12 or len(first_line) > 160:  # e.g. "(101)" from a text file, or a long torch dump
            first_line = f"{type(problem).__name__}: not a torch zip/pickle file, or a truncated one"
        raise weights.CheckpointError(f"{path}: cannot be read as a torch checkpoint ({first_line})") from None
    try:
        return model_registry.check_state_dict(model_registry.unwrap(content))
    except StateDictError as problem:
        raise weights.CheckpointError(f"{path}: {problem}") from None


class SamEngine:
    """One loaded SAM-family model with an embedding cache. Build it with :meth:`load`."""

    def __init__(self, model: torch.nn.Module, model_type: str, model_id: str, device: torch.device,
                 cache: EmbeddingCache | None = None, checkpoint_sha256: str | None = None) -> None:
        self.model = model
        self.model_type = model_type
        self.model_id = model_id
        self.device = device
        self.checkpoint_sha256 = checkpoint_sha256
        self.adapter: ModelAdapter = make_adapter(model, model_type)
        self.cache = cache if cache is not None else EmbeddingCache()
        self.half = device.type == "cuda"
        self.encode_count = 0
        self._pause = threading.local()  # per-thread pause point between decoder chunks / encoder blocks
        for block in self.adapter.encoder_blocks():
            block.register_forward_pre_hook(self._pause_hook)

    @property
    def family(self) -> Family:
        """The model family (SAM, MobileSAM, SAM 2, HQ-SAM)."""
        return self.adapter.family

    @classmethod
    def load(cls, model_type: str | None = None, checkpoint: Path | str | None = None, device: str = "auto",
             cache: EmbeddingCache | None = None) -> SamEngine:
        """Load a checkpoint (default: MobileSAM from the user cache, fetched when missing).

        The file is always hashed; the model type comes from a known hash or from the state dict, and
        a declared ``model_type`` must agree with it. Raises CheckpointError with one line.
        """
        checked = _locate(model_type, checkpoint)
        path = checked.path
        state_dict = read_state_dict(path)
        inferred = infer_model_type_of(path, state_dict)
        declared = model_type or checked.known_type
        if declared is not None and declared != inferred:
            raise weights.CheckpointError(
                f"{path}: holds a {inferred} model, not {declared} (it looks like {model_registry.describe(inferred)})")
        try:
            model = model_registry.load_model(state_dict, inferred)
        except (StateDictError, ImportError) as problem:
            raise weights.CheckpointError(f"{path}: {problem}") from None
        torch_device = pick_device(device)
        if torch_device.type == "cpu":
            allocator.keep_freed_memory()
        model.to(torch_device).eval()
        model_id = f"{inferred}-{checked.sha256[:12]}"
        return cls(model, inferred, model_id, torch_device, cache, checkpoint_sha256=checked.sha256)

    # ----------------------------------------------------------------- encoding
    @torch.inference_mode()
    def encode(self, image: np.ndarray) -> Embedding:
        """Encode an HxWx3 uint8 RGB image once; cached by pixel content and model."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"encode needs an HxWx3 uint8 RGB image, got {image.shape} {image.dtype}")
        original_size = (int(image.shape[0]), int(image.shape[1]))
        key = image_key(image, self.model_id)
        cached = self.cache.get(key)
        if cached is not None:
            stored, input_size = cached
            tensors = dict(stored) if isinstance(stored, Mapping) else {IMAGE_EMBED: stored}
            return self._embedding({name: value.to(self.device) for name, value in tensors.items()},
                                   original_size, input_size, key)
        input_size = self.adapter.geometry.input_size(original_size)
        batch = self.adapter.preprocess(image, self.device)
        if self.half:
            with torch.autocast("cuda", dtype=torch.float16):
                tensors = self.adapter.encode(batch)
        else:
            tensors = self.adapter.encode(batch)
        tensors = {name: value.float() for name, value in tensors.items()}
        self.encode_count += 1
        self.cache.put(key, tensors[IMAGE_EMBED] if len(tensors) == 1 else tensors, input_size)
        return self._embedding(tensors, original_size, input_size, key)

    def _embedding(self, tensors: FeatureSet, original_size: tuple[int, int], input_size: tuple[int, int],
                   key: str) -> Embedding:
        extras = {name: value for name, value in tensors.items() if name != IMAGE_EMBED}
        geometry = self.adapter.geometry
        return Embedding(tensors[IMAGE_EMBED], original_size, (int(input_size[0]), int(input_size[1])), key,
                         extras, geometry.encoder_size, geometry.low_res)

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
               batch_size: int = 64, min_score: float | None = None) -> Decoded:
        """Decode N prompts against one embedding, ``batch_size`` at a time.

        Returns M masks per prompt (3 with ``multimask``, else 1; HQ-SAM 1) as low-res logits. With
        ``min_score``, the logits of a prompt none of whose masks scores above it may be left undecoded
        (a constant far below 0: an empty mask); its scores are always decoded.
        """
        count = len(prompts)
        if count == 0:
            outputs = self.adapter.multimask_outputs(multimask)
            side = embedding.low_res_size
            return Decoded(torch.zeros(0, outputs, side, side), torch.zeros(0, outputs))
        logits, scores = [], []
        features = embedding.feature_set(self.device)
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
            low_res, iou = self.adapter.decode(features, points, boxes, masks, multimask, min_score)
            logits.append(low_res.float().cpu())
            scores.append(iou.float().cpu())
        return Decoded(torch.cat(logits), torch.cat(scores))

    def upscale(self, embedding: Embedding, low_res_logits: torch.Tensor) -> torch.Tensor:
        """Map N x C x 256 x 256 low-res logits to N x C x H x W logits of the original image."""
        return self.adapter.upscale(low_res_logits, embedding.input_size, embedding.original_size)


def infer_model_type_of(path: Path, state_dict: Mapping[str, torch.Tensor]) -> str:
    """:func:`infer_model_type` with the file named in the error."""
    try:
        return model_registry.infer_model_type(state_dict)
    except StateDictError as problem:
        raise weights.CheckpointError(f"{path}: {problem}") from None


def upscale_logits(low_res_logits: torch.Tensor, input_size: tuple[int, int],
                   original_size: tuple[int, int], encoder_size: int = ENCODER_SIZE) -> torch.Tensor:
    """SAM v1's postprocessing: to the encoder size, drop the padding, then to the original (H, W)."""
    if low_res_logits.shape[0] == 0:
        return low_res_logits.new_zeros((0, low_res_logits.shape[1], *original_size))
    full = F.interpolate(low_res_logits, (encoder_size, encoder_size), mode="bilinear", align_corners=False)
    full = full[..., : input_size[0], : input_size[1]]
    return F.interpolate(full, original_size, mode="bilinear", align_corners=False)


def crop_low_res(low_res_logits: torch.Tensor, input_size: tuple[int, int], encoder_size: int = ENCODER_SIZE,
                 low_res: int = LOW_RES) -> torch.Tensor:
    """The part of low-res logits (... x low_res x low_res) that covers the image (padding dropped)."""
    rows = -(-input_size[0] * low_res // encoder_size)
    cols = -(-input_size[1] * low_res // encoder_size)
    return low_res_logits[..., :rows, :cols]

"""Model types -> family and adapter; the model type of a state dict; strict, checked loading.

Nothing here imports a model package: an adapter module (and with it its package) is imported only
when a model of its family is built or loaded, so the optional families cost nothing until used.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from collections.abc import Mapping
from dataclasses import dataclass

import torch

from .base import Family, ModelAdapter


class StateDictError(ValueError):
    """A checkpoint's content is not a loadable SAM-family state dict (the message is one line)."""


@dataclass(frozen=True)
class ModelSpec:
    """One model type: its family, a readable name, the adapter module and the pip package it needs."""

    model_type: str
    family: Family
    label: str
    module: str  # uosam_core.models.<module>
    adapter: str  # class name in that module
    package: str  # importable package the family needs
    install: str  # how a user gets it


_SAM = ("sam_v1", "SamV1Adapter", "segment_anything", "pip install segment-anything")
_HQ = ("hq_sam", "HqSamAdapter", "segment_anything_hq", "pip install 'uosam[hq]'")
_SAM2 = ("sam2_hiera", "Sam2Adapter", "sam2", "pip install 'uosam[sam2]' (see README)")
_HIERA = {"t": "tiny", "s": "small", "b+": "base+", "l": "large"}

MODEL_SPECS: dict[str, ModelSpec] = {
    "vit_t": ModelSpec("vit_t", Family.MOBILE_SAM, "MobileSAM TinyViT", "mobile_sam_vit_t", "MobileSamAdapter",
                       "mobile_sam", "pip install mobilesam-mirror"),
    **{f"vit_{size}": ModelSpec(f"vit_{size}", Family.SAM, f"SAM ViT-{size.upper()}", *_SAM) for size in "blh"},
    **{f"hq_vit_{size}": ModelSpec(f"hq_vit_{size}", Family.HQ_SAM, f"HQ-SAM ViT-{size.upper()}", *_HQ)
       for size in ("tiny", "b", "l", "h")},
    **{f"{version}_hiera_{size}": ModelSpec(f"{version}_hiera_{size}", Family.SAM2,
                                             f"SAM {version[3:]} Hiera-{name}", *_SAM2)
       for version in ("sam2.1", "sam2") for size, name in _HIERA.items()},
}
_VIT_WIDTHS = {768: "b", 1024: "l", 1280: "h"}
_HIERA_SHAPES = {(96, 12): "t", (96, 16): "s", (112, 24): "b+", (144, 48): "l"}  # (embed dim, blocks)
_HQ_KEYS = ("mask_decoder.hf_token.", "mask_decoder.hf_mlp.", "mask_decoder.compress_vit_feat.")


def spec(model_type: str) -> ModelSpec:
    """The spec of a model type; ValueError naming the known ones otherwise."""
    if model_type not in MODEL_SPECS:
        raise ValueError(f"unknown model type {model_type!r}; known: {', '.join(MODEL_SPECS)}")
    return MODEL_SPECS[model_type]


def unwrap(checkpoint: object) -> object:
    """The state dict inside a checkpoint: SAM 2 files keep it under ``"model"``."""
    if isinstance(checkpoint, Mapping) and isinstance(checkpoint.get("model"), Mapping):
        return checkpoint["model"]
    return checkpoint


def check_state_dict(state_dict: object) -> dict[str, torch.Tensor]:
    """Refuse anything but a ``str -> Tensor`` mapping of finite weights (StateDictError, one line)."""
    if isinstance(state_dict, torch.Tensor):
        raise StateDictError(f"holds a single tensor of shape {tuple(state_dict.shape)}, not a state dict")
    if not isinstance(state_dict, Mapping):
        raise StateDictError(f"holds a {type(state_dict).__name__}, not a state dict")
    if not state_dict:
        raise StateDictError("holds an empty state dict")
    for key, value in state_dict.items():
        if not isinstance(key, str):
            raise StateDictError(f"has a {type(key).__name__} key {key!r}: not a state dict of named weights")
        if not isinstance(value, torch.Tensor):
            raise StateDictError(f"entry {key!r} is a {type(value).__name__}, not a tensor")
    for key, value in state_dict.items():
        if value.is_floating_point() and value.numel() and not bool(torch.isfinite(value).all()):
            bad = int((~torch.isfinite(value)).sum())
            raise StateDictError(f"weight {key} has {bad} NaN/inf values (a broken or diverged model)")
    return dict(state_dict)


def infer_model_type(state_dict: Mapping[str, torch.Tensor]) -> str:
    """Tell the model type from the keys and shapes of a state dict (StateDictError when none fits)."""
    keys = list(state_dict)
    if any(key.startswith("image_encoder.trunk.") for key in keys):
        patch = state_dict.get("image_encoder.trunk.patch_embed.proj.weight")
        blocks = {m.group(1) for key in keys if (m := re.match(r"image_encoder\.trunk\.blocks\.(\d+)\.", key))}
        size = _HIERA_SHAPES.get((int(patch.shape[0]) if patch is not None else -1, len(blocks)))
        if size is None:
            raise StateDictError(f"looks like SAM 2 but its Hiera encoder ({len(blocks)} blocks) is no known size")
        version = "sam2.1" if "no_obj_embed_spatial" in state_dict else "sam2"
        return f"{version}_hiera_{size}"
    is_hq = any(key.startswith(_HQ_KEYS) for key in keys)
    prefix = "hq_" if is_hq else ""
    if any(key.startswith("image_encoder.layers.") for key in keys):
        return f"{prefix}vit_tiny" if is_hq else "vit_t"
    patch = state_dict.get("image_encoder.patch_embed.proj.weight")
    if patch is None:
        raise StateDictError("not a SAM-family state dict (no image encoder weights)")
    width = int(patch.shape[0])
    if width not in _VIT_WIDTHS:
        raise StateDictError(f"looks like {'HQ-SAM' if is_hq else 'SAM'} but has unknown encoder width {width}")
    return f"{prefix}vit_{_VIT_WIDTHS[width]}"


def adapter_module(model_type: str):
    """Import the adapter module of a model type; ImportError names the package and how to install it."""
    entry = spec(model_type)
    if importlib.util.find_spec(entry.package) is None:
        raise ImportError(f"{entry.label} needs the package {entry.package!r}: {entry.install}")
    return importlib.import_module(f"{__package__}.{entry.module}")


def build_model(model_type: str) -> torch.nn.Module:
    """A randomly initialised model of ``model_type`` (eval mode, CPU)."""
    return adapter_module(model_type).build(model_type).eval()


def make_adapter(module: torch.nn.Module, model_type: str) -> ModelAdapter:
    """Wrap a built model in its family's adapter."""
    return getattr(adapter_module(model_type), spec(model_type).adapter)(module, model_type)


def _examples(keys: list[str]) -> str:
    return ", ".join(keys[:2]) + (" ..." if len(keys) > 2 else "")


def load_model(state_dict: Mapping[str, torch.Tensor], model_type: str) -> torch.nn.Module:
    """Build ``model_type`` and load ``state_dict`` into it, refusing unexpected or missing keys."""
    model = build_model(model_type)
    missing, unexpected = model.load_state_dict(state_dict, strict=False)
    if missing or unexpected:
        label = spec(model_type).label
        parts = [f"{len(unexpected)} unexpected keys ({_examples(unexpected)})" if unexpected else "",
                 f"{len(missing)} missing keys ({_examples(missing)})" if missing else ""]
        raise StateDictError(f"looks like {label} but does not fit it: " + "; ".join(p for p in parts if p))
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model.eval()


def describe(model_type: str) -> str:
    """'SAM ViT-B (SAM)'-style label of a model type."""
    entry = spec(model_type)
    return f"{entry.label} ({entry.family.value})"



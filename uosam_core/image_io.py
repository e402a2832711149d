"""Reading images and label maps, writing label maps atomically with the input's format.

Label maps are HxW integer arrays of class ids. Formats: 8-bit grayscale or palette PNG ("L"/"P"),
and the PASS / ImageNet-S encoding (RGB PNG, class = R + 256 * G, 1000 = ignore).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
LABEL_SUFFIXES = (".png",)
PASS_IGNORE = 1000


class InputError(ValueError):
    """Bad input file: the message names the file and the problem in one line."""


@dataclass(frozen=True)
class LabelFormat:
    """How a label file was stored, so the output is written the same way."""

    mode: str  # "L", "P" or "pass-rgb"
    palette: list[int] | None = None


def read_image(path: Path | str) -> np.ndarray:
    """Read any image as HxWx3 uint8 RGB, EXIF orientation applied (grayscale and CMYK converted)."""
    path = Path(path)
    try:
        with Image.open(path) as opened:
            opened.load()
            image = ImageOps.exif_transpose(opened)
            if image.mode in ("I;16", "I;16B", "I", "F"):
                array = np.asarray(image, dtype=np.float64)
                peak = array.max() or 1.0
                image = Image.fromarray((array / peak * 255).astype(np.uint8))
            image = image.convert("RGB")
    except FileNotFoundError:
        raise InputError(f"{path}: image file not found") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as problem:
        raise InputError(f"{path}: unreadable or truncated image ({problem})") from None
    return np.asarray(image, dtype=np.uint8)


def read_labels(path: Path | str, *, encoding: str = "ids") -> tuple[np.ndarray, LabelFormat]:
    """Read a label map as HxW int32 ids and its format.

    ``encoding="ids"``: 8-bit "L" or "P" PNGs (palette kept); RGB, RGBA and 16-bit files are refused.
    ``encoding="pass"``: RGB PNGs with class = R + 256 * G (ImageNet-S / PASS).
    """
    path = Path(path)
    try:
        with Image.open(path) as opened:
            opened.load()
            mode = opened.mode
            palette = opened.getpalette() if mode == "P" else None
            array = np.asarray(opened)
    except FileNotFoundError:
        raise InputError(f"{path}: label file not found") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as problem:
        raise InputError(f"{path}: unreadable or truncated label file ({problem})") from None
    if encoding == "pass":
        if mode != "RGB":
            raise InputError(f"{path}: PASS labels must be RGB (class = R + 256*G), got mode {mode}")
        ids = array[..., 0].astype(np.int32) + 256 * array[..., 1].astype(np.int32)
        return ids, LabelFormat("pass-rgb")
    if mode in ("L", "P"):
        return array.astype(np.int32), LabelFormat(mode, palette)
    if mode in ("RGB", "RGBA"):
        raise InputError(f"{path}: {mode} label file; expected 8-bit class ids (L or P mode), "
                         "or use the PASS encoding for R + 256*G labels")
    raise InputError(f"{path}: {mode} label file ({array.dtype}); expected 8-bit class ids (L or P mode)")


def write_labels(path: Path | str, labels: np.ndarray, label_format: LabelFormat) -> None:
    """Write ids in ``label_format`` atomically (temp file in the same folder, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if label_format.mode == "pass-rgb":
        rgb = np.zeros((*labels.shape, 3), dtype=np.uint8)
        rgb[..., 0] = labels % 256
        rgb[..., 1] = labels // 256
        image = Image.fromarray(rgb, "RGB")
    else:
        if labels.min(initial=0) < 0 or labels.max(initial=0) > 255:
            raise ValueError(f"{path}: ids outside 0..255 cannot be stored as an 8-bit label map")
        image = Image.fromarray(labels.astype(np.uint8), "L")
        if label_format.mode == "P":
            image = image.convert("P")
            image.putpalette(label_format.palette or [])
    handle, temporary = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".png.part", dir=path.parent)
    os.close(handle)
    try:
        image.save(temporary, format="PNG")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def check_pair(image: np.ndarray, labels: np.ndarray, label_path: Path | str, *, num_classes: int | None,
               ignore_ids: tuple[int, ...]) -> None:
    """Raise InputError when labels do not fit the image or the class count."""
    if image.shape[:2] != labels.shape:
        raise InputError(f"{label_path}: label size {labels.shape[1]}x{labels.shape[0]} (WxH) differs from "
                         f"its image {image.shape[1]}x{image.shape[0]}")
    valid = ~np.isin(labels, ignore_ids)
    if not valid.any():
        raise InputError(f"{label_path}: every pixel is ignore ({', '.join(map(str, ignore_ids))})")
    if num_classes is not None:
        top = int(labels[valid].max())
        if top >= num_classes:
            raise InputError(f"{label_path}: class id {top} is not below the class count {num_classes}")


def save_json_atomically(path: Path | str, text: str) -> None:
    """Write a text file atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.part")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)

"""Reading images and label maps, writing label maps atomically with the input's format.

Label maps are HxW integer arrays of class ids. Formats: 8-bit grayscale or palette PNG ("L"/"P"; a
1-bit PNG reads as ids 0/1 and is written back as "L"), and the PASS / ImageNet-S encoding (RGB PNG,
class = R + 256 * G, 1000 = ignore). Every reader failure becomes one :class:`InputError` naming the
file that failed; images and labels above :data:`MAX_PIXELS` are refused before they are decoded.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
from PIL import Image, ImageOps

from .atomic import write_bytes, write_text

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
LABEL_SUFFIXES = (".png",)
PASS_IGNORE = 1000
# 80 MP (e.g. 10000x8000): 3x the 24 MP photos the tool must handle, and below Pillow's own
# decompression-bomb warning (89.5 MP), so within the limit Pillow never warns (docs/decisions/0006).
MAX_PIXELS = 80_000_000
_DETAIL_CHARS = 160

T = TypeVar("T")


class InputError(ValueError):
    """Bad input file: the message names the file and the problem in one line.

    ``path`` is the file (or folder) at fault when the raiser knew it, and ``problem`` the message
    without its ``"PATH: "`` prefix, so callers never split the message at ``:`` (paths may hold one).
    """

    def __init__(self, message: str, *, path: Path | str | None = None) -> None:
        super().__init__(message)
        self.path = None if path is None else Path(path)
        prefix = f"{path}: "
        self.problem = message[len(prefix):] if path is not None and message.startswith(prefix) else message

    def __reduce__(self):  # keep ``path`` across pickling (process pools)
        return (self.__class__, (str(self),), {"path": self.path, "problem": self.problem})


@dataclass(frozen=True)
class LabelFormat:
    """How a label file was stored, so the output is written the same way."""

    mode: str  # "L", "P" or "pass-rgb"
    palette: list[int] | None = None


def _one_line(problem: BaseException) -> str:
    text = " ".join(str(problem).split()) or "no detail"
    if len(text) > _DETAIL_CHARS:
        text = text[:_DETAIL_CHARS] + "..."
    return f"{type(problem).__name__}: {text}"


def _decode(path: Path, what: str, convert: Callable[[Image.Image], T], *, require_png: bool = False) -> T:
    """Open ``path``, refuse it when too large (or not PNG when ``require_png``), load and ``convert`` it.

    ``what`` is "image" or "label" and appears in every message. Any failure of Pillow or of
    ``convert`` becomes an InputError naming ``path``; InputErrors raised by ``convert`` pass as they are.
    """
    try:
        with Image.open(path) as opened:
            width, height = opened.size
            if width < 1 or height < 1:
                raise InputError(f"{path}: {what} has no pixels ({width}x{height})", path=path)
            if width * height > MAX_PIXELS:
                raise InputError(f"{path}: {what} of {width}x{height} pixels is over the "
                                 f"{MAX_PIXELS // 1_000_000}-megapixel limit", path=path)
            if require_png and opened.format != "PNG":
                raise InputError(f"{path}: {what} file holds {opened.format or 'unknown'} data, not PNG "
                                 "(label maps must be lossless PNG)", path=path)
            opened.load()
            return convert(opened)
    except InputError:
        raise
    except FileNotFoundError:
        raise InputError(f"{path}: {what} file not found", path=path) from None
    except (IsADirectoryError, PermissionError) as problem:
        raise InputError(f"{path}: cannot read {what} file ({_one_line(problem)})", path=path) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InputError(f"{path}: {what} is over the {MAX_PIXELS // 1_000_000}-megapixel limit "
                         "(decompression bomb?)", path=path) from None
    except MemoryError:
        raise InputError(f"{path}: {what} too large to decode in the memory available", path=path) from None
    except Exception as problem:  # noqa: BLE001 - Pillow raises many types on bad bytes; all mean "bad file"
        label_word = " file" if what == "label" else ""
        raise InputError(f"{path}: unreadable or truncated {what}{label_word} ({_one_line(problem)})",
                         path=path) from None


def _image_to_rgb(opened: Image.Image) -> np.ndarray:
    image = ImageOps.exif_transpose(opened)
    if image.mode.startswith("I") or image.mode == "F":
        array = np.nan_to_num(np.asarray(image, dtype=np.float64))
        peak = array.max() if array.size and array.max() > 0 else 1.0
        image = Image.fromarray(np.clip(array / peak * 255, 0, 255).astype(np.uint8))
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def read_image(path: Path | str) -> np.ndarray:
    """Read any image as HxWx3 uint8 RGB, EXIF orientation applied (grayscale, CMYK, 16-bit converted)."""
    return _decode(Path(path), "image", _image_to_rgb)


def read_labels(path: Path | str, *, encoding: str = "ids") -> tuple[np.ndarray, LabelFormat]:
    """Read a label map as HxW int32 ids and its format.

    ``encoding="ids"``: 8-bit "L" or "P" PNGs (palette kept), 1-bit PNGs as ids 0/1; RGB, RGBA and
    16-bit files are refused. ``encoding="pass"``: RGB PNGs with class = R + 256 * G (ImageNet-S / PASS).
    The file must hold PNG data whatever its name (JPEG artefacts would become classes).
    """
    path = Path(path)

    def convert(opened: Image.Image) -> tuple[np.ndarray, LabelFormat]:
        mode = opened.mode
        if encoding == "pass":
            if mode != "RGB":
                raise InputError(f"{path}: PASS labels must be RGB (class = R + 256*G), got mode {mode}", path=path)
            array = np.asarray(opened)
            return array[..., 0].astype(np.int32) + 256 * array[..., 1].astype(np.int32), LabelFormat("pass-rgb")
        if mode in ("L", "P"):
            palette = opened.getpalette() if mode == "P" else None
            return np.asarray(opened).astype(np.int32), LabelFormat(mode, palette)
        if mode == "1":
            return np.asarray(opened).astype(np.int32), LabelFormat("L")
        if mode in ("RGB", "RGBA"):
            raise InputError(f"{path}: {mode} label file; expected 8-bit class ids (L or P mode), "
                             "or use the PASS encoding for R + 256*G labels", path=path)
        raise InputError(f"{path}: {mode} label file; expected 8-bit class ids (L or P mode)", path=path)

    return _decode(path, "label", convert, require_png=True)


def write_labels(path: Path | str, labels: np.ndarray, label_format: LabelFormat) -> None:
    """Write HxW ids in ``label_format`` atomically (via :mod:`uosam_core.atomic`, umask permissions)."""
    path = Path(path)
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
    encoded = io.BytesIO()
    image.save(encoded, format="PNG")
    write_bytes(path, encoded.getvalue())


def check_pair(image: np.ndarray, labels: np.ndarray, label_path: Path | str, *, num_classes: int | None,
               ignore_ids: tuple[int, ...]) -> None:
    """Raise InputError (naming ``label_path``) when labels do not fit the image or the class count."""
    if image.shape[:2] != labels.shape:
        raise InputError(f"{label_path}: label size {labels.shape[1]}x{labels.shape[0]} (WxH) differs from "
                         f"its image {image.shape[1]}x{image.shape[0]}", path=label_path)
    valid = ~np.isin(labels, ignore_ids)
    # a label of ignore pixels only is valid (nothing was labelled): it is refined to itself
    if num_classes is not None and valid.any():
        top = int(labels[valid].max())
        if top >= num_classes:
            raise InputError(f"{label_path}: class id {top} is not below the class count {num_classes}",
                             path=label_path)


def save_json_atomically(path: Path | str, text: str) -> None:
    """Write a text file atomically (via :mod:`uosam_core.atomic`, umask permissions)."""
    write_text(path, text)

"""Class names and colours of a data set (Qt-free): from a classes.json, a txt list of names, the palette
of a palette-mode label PNG, or generated; and which classes are drawn (the rest are transparent).

Generated colours are spread out in CIELAB (greedy farthest point), so any two of the first 27 differ
by more than 30 and any two of all 256 by more than 10 (CIE76 delta E); the old PASCAL VOC
bit-interleaving gave five near-identical greens on COCO-Stuff's 27 classes. A data set's own
palette (its label PNGs', or a classes file's) wins over generated colours. Ignore ids and classes
drawn black in a data set's palette (VOC's background, Cityscapes' unlabelled) start hidden, so they
do not darken the image; the legend's checkboxes show or hide any class.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from uosam_core.image_io import InputError

CLASSES_FILE = "classes.json"
CLASS_FILE_SUFFIXES = (".json", ".txt", ".png")
PALETTE_SIZE = 256
_GRID_STEP = 12  # candidate colours: an RGB grid with this step
_LIGHTNESS = (25.0, 92.0)  # candidates darker or lighter than this (CIELAB L) vanish on most images


def lab_colors(rgb: np.ndarray) -> np.ndarray:
    """Kx3 float32 CIELAB of Kx3 uint8 RGB colours."""
    return cv2.cvtColor(rgb.reshape(1, -1, 3).astype(np.float32) / 255, cv2.COLOR_RGB2LAB).reshape(-1, 3)


@lru_cache(maxsize=1)
def _spread_palette() -> np.ndarray:
    steps = np.arange(_GRID_STEP // 2, 256, _GRID_STEP)
    candidates = np.stack(np.meshgrid(steps, steps, steps, indexing="ij"), -1).reshape(-1, 3).astype(np.uint8)
    lab = lab_colors(candidates)
    usable = (lab[:, 0] > _LIGHTNESS[0]) & (lab[:, 0] < _LIGHTNESS[1])
    candidates, lab = candidates[usable], lab[usable]
    chosen = [int(np.argmax(np.hypot(lab[:, 1], lab[:, 2])))]  # the most saturated colour first
    squared = ((lab - lab[chosen[0]]) ** 2).sum(axis=1)  # farthest-point order on squared distances
    for _ in range(PALETTE_SIZE - 1):
        chosen.append(int(np.argmax(squared)))
        np.minimum(squared, ((lab - lab[chosen[-1]]) ** 2).sum(axis=1), out=squared)
    palette = candidates[chosen]
    palette.setflags(write=False)
    return palette


_spread_palette()  # built once at import (~0.1 s), not on the GUI thread while an image opens


def generated_palette() -> np.ndarray:
    """256x3 uint8 colours, each as far (CIELAB) from the ones before it as the RGB grid allows."""
    return _spread_palette().copy()


def voc_palette() -> np.ndarray:
    """256x3 uint8 PASCAL VOC bit-interleaved colours (what VOC's label PNGs carry)."""
    palette = np.zeros((256, 3), np.uint8)
    for index in range(256):
        value, red, green, blue = index, 0, 0, 0
        for bit in range(8):
            red |= ((value >> 0) & 1) << (7 - bit)
            green |= ((value >> 1) & 1) << (7 - bit)
            blue |= ((value >> 2) & 1) << (7 - bit)
            value >>= 3
        palette[index] = (red, green, blue)
    return palette


@dataclass(frozen=True)
class ClassFile:
    """What a classes file gives: names, palette colours (first K ids), class count, ignore id."""

    names: list[str] | None = None
    colors: np.ndarray | None = None  # Kx3 uint8 for ids 0..K-1
    num_classes: int | None = None
    ignore_index: int | None = None


def _palette_array(values, path: Path) -> np.ndarray:
    try:
        colors = np.asarray(values, np.int64).reshape(-1, 3)
    except ValueError:
        raise InputError(f"{path}: palette must be a list of [r, g, b] triples", path=path) from None
    if colors.size and (colors.min() < 0 or colors.max() > 255):
        raise InputError(f"{path}: palette values must be 0..255", path=path)
    return colors[:PALETTE_SIZE].astype(np.uint8)


def _read_json(path: Path) -> ClassFile:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as problem:
        raise InputError(f"{path}: not a readable classes.json ({problem})", path=path) from None
    if isinstance(data, list):  # a bare list of names
        data = {"names": data}
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected an object with names / palette / num_classes / ignore_index", path=path)
    names = data.get("names")
    if names is not None and not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
        raise InputError(f"{path}: names must be a list of strings", path=path)
    colors = _palette_array(data["palette"], path) if data.get("palette") else None
    count, ignore = data.get("num_classes"), data.get("ignore_index")
    for label, value in (("num_classes", count), ("ignore_index", ignore)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise InputError(f"{path}: {label} must be a non-negative integer, got {value!r}", path=path)
    if count == 0:
        raise InputError(f"{path}: num_classes must be at least 1", path=path)
    return ClassFile(names or None, colors, count or (len(names) if names else None), ignore)


def _read_txt(path: Path) -> ClassFile:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as problem:
        raise InputError(f"{path}: not a readable text list of class names ({problem})", path=path) from None
    while lines and not lines[-1].strip():
        lines.pop()
    names = [line.strip() for line in lines]
    if not names:
        raise InputError(f"{path}: no class names (one name per line)", path=path)
    return ClassFile(names, None, len(names), None)


def _read_png_palette(path: Path) -> ClassFile:
    try:
        with Image.open(path) as image:
            mode, palette = image.mode, image.getpalette()
    except (OSError, ValueError) as problem:
        raise InputError(f"{path}: not a readable PNG ({problem})", path=path) from None
    if mode != "P" or not palette:
        raise InputError(f"{path}: not a palette-mode PNG (mode {mode}): it carries no class colours", path=path)
    return ClassFile(None, _palette_array(palette, path), None, None)


def read_class_file(path: Path) -> ClassFile:
    """Read a classes.json ({"names", "palette", "num_classes", "ignore_index"} or a list of names), a
    .txt list (one name per line, id = line number from 0) or a palette-mode label PNG (colours only).
    InputError (one line naming the file) when it cannot be used."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in CLASS_FILE_SUFFIXES:
        raise InputError(f"{path}: class files are .json, .txt (one name per line) or a palette .png", path=path)
    if not path.is_file():
        raise InputError(f"{path}: file not found", path=path)
    return {".json": _read_json, ".txt": _read_txt, ".png": _read_png_palette}[suffix](path)


def black_ids(colors: np.ndarray) -> frozenset[int]:
    """Ids drawn pure black by a data set's palette (VOC background, Cityscapes unlabelled)."""
    return frozenset(int(i) for i in np.flatnonzero((colors == 0).all(axis=1)))


@dataclass
class ClassTable:
    """Names (when known) and display colours of class ids 0..255, and the ids drawn transparent
    (``hidden``; by default the ignore ids)."""

    colors: np.ndarray  # 256 x 3 uint8
    names: list[str] | None = None
    ignore_ids: tuple[int, ...] = (255,)
    num_classes: int | None = None
    hidden: frozenset[int] | None = field(default=None)
    notice: str | None = None  # why a classes file found beside the labels was not used

    def __post_init__(self) -> None:
        if self.hidden is None:
            self.hidden = frozenset(self.ignore_ids)

    def name(self, class_id: int) -> str:
        """'7 animal' when names are known, else '7'; ignore ids read 'ignore'."""
        if class_id in self.ignore_ids:
            return f"{class_id} ignore"
        if self.names and 0 <= class_id < len(self.names):
            return f"{class_id} {self.names[class_id]}"
        return str(class_id)

    def class_ids(self) -> list[int]:
        """The ids a user can paint or assign: 0..num_classes-1 (or 0..254 without a count)."""
        count = self.num_classes or (len(self.names) if self.names else 255)
        return [i for i in range(count) if i not in self.ignore_ids]

    @property
    def transparent_ids(self) -> tuple[int, ...]:
        """Ids not drawn: the hidden ones (ignore ids unless the user shows them)."""
        return tuple(sorted(self.hidden))

    def with_hidden(self, class_id: int, hidden: bool) -> ClassTable:
        """A copy with ``class_id`` hidden (drawn transparent) or shown."""
        ids = set(self.hidden)
        (ids.add if hidden else ids.discard)(int(class_id))
        return replace(self, hidden=frozenset(ids))

    def rgba(self, labels: np.ndarray, alpha: int = 255) -> np.ndarray:
        """HxWx4 uint8 colours of an id map; hidden and negative ids are transparent (ids above 255,
        as in PASS labels, reuse the colours modulo 256)."""
        lut = np.zeros((257, 4), np.uint8)
        lut[:256, :3] = self.colors
        lut[:256, 3] = alpha
        hidden = (labels < 0) | np.isin(labels, self.transparent_ids)
        return lut[np.where(hidden, 256, labels % 256)]

    def with_file(self, path: Path) -> ClassTable:
        """This table with a classes file applied (see :func:`read_class_file`): its names, class
        count and ignore id replace these when it has them, its colours replace the first ids'."""
        loaded = read_class_file(path)
        colors, hidden = self.colors, set(self.hidden)
        if loaded.colors is not None:
            colors = self.colors.copy()
            colors[: len(loaded.colors)] = loaded.colors
            hidden -= black_ids(self.colors) - black_ids(colors)  # hidden for being black, not black any more
            hidden |= black_ids(loaded.colors)
        ignore = self.ignore_ids if loaded.ignore_index is None else (loaded.ignore_index,)
        hidden = (hidden - set(self.ignore_ids)) | set(ignore)
        names = loaded.names if loaded.names is not None else self.names
        count = loaded.num_classes if loaded.num_classes is not None else self.num_classes
        return ClassTable(colors, names, ignore, count, frozenset(hidden))

    @classmethod
    def discover(cls, labels_dir: Path | None, *, classes_file: Path | None = None,
                 label_palette: list[int] | None = None, ignore_ids: tuple[int, ...] = (255,)) -> ClassTable:
        """Colours from the label PNGs' own palette (``label_palette``) or generated; then names (and
        palette, count, ignore id) from ``classes_file`` (.json, .txt or palette .png), or else from a
        classes.json in or beside the labels folder."""
        table = cls(generated_palette(), None, ignore_ids)
        if label_palette:
            own = _palette_array(label_palette, Path("label palette"))
            table.colors = table.colors.copy()
            table.colors[: len(own)] = own
            table.hidden = frozenset(table.hidden | black_ids(own))
        candidates = []
        if labels_dir is not None:
            candidates = [Path(labels_dir) / CLASSES_FILE, Path(labels_dir).parent / CLASSES_FILE]
        if classes_file:
            return table.with_file(Path(classes_file))  # InputError: the user named a file that is no good
        for candidate in candidates:
            if Path(candidate).is_file():
                try:
                    return table.with_file(Path(candidate))
                except InputError as problem:
                    table.notice = f"{problem}; class names not loaded"
        return table

"""Class names and colours of a data set (Qt-free): from a classes.json, a palette PNG, or generated."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CLASSES_FILE = "classes.json"


def generated_palette() -> np.ndarray:
    """256x3 uint8 distinct colours (the PASCAL VOC bit-interleaving scheme)."""
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


@dataclass
class ClassTable:
    """Names (when known) and display colours of class ids 0..255; ignore ids are drawn transparent."""

    colors: np.ndarray  # 256 x 3 uint8
    names: list[str] | None = None
    ignore_ids: tuple[int, ...] = (255,)
    num_classes: int | None = None

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

    def rgba(self, labels: np.ndarray, alpha: int = 255) -> np.ndarray:
        """HxWx4 uint8 colours of an id map; ignore ids and negative ids are transparent (ids above 255,
        as in PASS labels, reuse the colours modulo 256)."""
        lut = np.zeros((257, 4), np.uint8)
        lut[:256, :3] = self.colors
        lut[:256, 3] = alpha
        hidden = (labels < 0) | np.isin(labels, self.ignore_ids)
        return lut[np.where(hidden, 256, labels % 256)]

    @classmethod
    def discover(cls, labels_dir: Path | None, *, classes_file: Path | None = None,
                 label_palette: list[int] | None = None, ignore_ids: tuple[int, ...] = (255,)) -> ClassTable:
        """Names/palette from ``classes_file``, or a classes.json in or beside the labels folder; colours
        fall back to the label PNGs' own palette, then to a generated one."""
        colors = generated_palette()
        if label_palette:
            flat = np.zeros(768, np.uint8)
            flat[: min(768, len(label_palette))] = label_palette[:768]
            colors = flat.reshape(256, 3)
        candidates = [classes_file] if classes_file else []
        if labels_dir is not None:
            candidates += [Path(labels_dir) / CLASSES_FILE, Path(labels_dir).parent / CLASSES_FILE]
        for candidate in candidates:
            if candidate is not None and candidate.is_file():
                data = json.loads(candidate.read_text(encoding="utf-8"))
                names = data.get("names")
                if data.get("palette"):
                    listed = np.asarray(data["palette"], np.uint8).reshape(-1, 3)[:256]
                    colors = colors.copy()
                    colors[: len(listed)] = listed
                ignore = data.get("ignore_index")
                return cls(colors, names, (int(ignore),) if ignore is not None else ignore_ids,
                           data.get("num_classes") or (len(names) if names else None))
        return cls(colors, None, ignore_ids)

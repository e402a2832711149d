"""Saved label maps of bench/quality.py, so the report can be re-run without refining again.

Layout: ``ROOT/<set name>/<variant>/<stem>.png`` (8-bit ids) and ``ROOT/<set name>/<variant>/seconds.json``
(``{stem: seconds}``, the time each map took to compute). Every file is written atomically.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from uosam_core.atomic import write_text
from uosam_core.image_io import InputError, LabelFormat, read_labels, write_labels


class LabelStore:
    """Reads label maps from ``source`` (--labels-from) and writes computed ones to ``target`` (--save-labels).

    Either may be None. A map that is missing, unreadable or of the wrong size is not read back, so the
    caller computes it again.
    """

    def __init__(self, target: Path | None, source: Path | None) -> None:
        self.target = target
        self.source = source
        self._seconds: dict[Path, dict[str, float]] = {}

    def _seconds_of(self, folder: Path) -> dict[str, float]:
        if folder not in self._seconds:
            try:
                loaded = json.loads((folder / "seconds.json").read_text())
                self._seconds[folder] = {str(k): float(v) for k, v in loaded.items()}
            except (OSError, ValueError, AttributeError):
                self._seconds[folder] = {}
        return self._seconds[folder]

    def load(self, set_name: str, variant: str, stem: str,
             shape: tuple[int, int]) -> tuple[np.ndarray, float | None] | None:
        """(HxW int32 labels, seconds they took or None) from ``source``, or None when not usable there."""
        if self.source is None:
            return None
        folder = self.source / set_name / variant
        path = folder / f"{stem}.png"
        if not path.is_file():
            return None
        try:
            labels, _ = read_labels(path)
        except InputError as error:
            print(f"{error}; computing it again", flush=True)
            return None
        if labels.shape != shape:
            print(f"{path}: labels {labels.shape} do not fit the image {shape}; computing them again", flush=True)
            return None
        seconds = self._seconds_of(folder).get(stem)
        if self.target is not None and self.target != self.source:
            self.save(set_name, variant, stem, labels, seconds)
        return labels, seconds

    def save(self, set_name: str, variant: str, stem: str, labels: np.ndarray, seconds: float | None) -> None:
        """Write one map (HxW ids 0..255) and its seconds to ``target``; nothing when there is none."""
        if self.target is None:
            return
        folder = self.target / set_name / variant
        write_labels(folder / f"{stem}.png", labels, LabelFormat("L"))
        if seconds is not None:
            recorded = self._seconds_of(folder)
            recorded[stem] = round(seconds, 3)
            write_text(folder / "seconds.json", json.dumps(recorded, indent=1, sort_keys=True) + "\n")

"""Ground-truth scores of a review session (Qt-free): per image, the mIoU of its baseline and of its
current labels, and the set's totals from one confusion matrix, all as ``uosam eval`` computes them.

Each image keeps two :class:`~uosam_core.image_scores.PairCounts` (baseline, current); an image not
refined yet (or not in memory) has no current counts and scores its baseline for "current". The
class count and ignore id can change later (a classes file loaded): the scores follow without
reading any file again. Reading and counting happen in :func:`count_pair`, which the GUI runs on a
background thread; :class:`GroundTruth` is touched by one thread only.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import numpy as np

from uosam_core.image_io import LABEL_SUFFIXES, InputError, read_labels
from uosam_core.image_scores import PairCounts, set_scores
from uosam_core.pairing import index_files

NO_SCORE = float("nan")


class GtSort(Enum):
    """File list orders that need ground truth (their values are the texts the sort box shows)."""

    MOST_IMPROVED = "most improved first (GT)"
    MOST_HARMED = "most harmed first (GT)"


@dataclass
class GtEntry:
    """One image's ground truth file and counts (``current`` None: scores its baseline)."""

    gt_path: Path | None
    baseline: PairCounts | None = None
    current: PairCounts | None = None
    problem: str | None = None  # why it cannot be scored (shown in the file list's tooltip)
    opening: bool = False  # edited in an earlier run, its labels not known until its document is open

    @property
    def current_or_baseline(self) -> PairCounts | None:
        return self.current if self.current is not None else self.baseline


def count_pair(labels: np.ndarray | Path | Callable[[], np.ndarray], gt_path: Path, *, ignore_index: int | None,
               encoding: str = "ids") -> PairCounts:
    """Counts of a label map (an array, a file read as ``uosam eval`` reads it, or a function that
    reads it) against its ground truth file; InputError (one line naming the file) when a file cannot
    be read or does not fit."""
    if callable(labels):
        labels = labels()
    if isinstance(labels, Path):
        labels = read_labels(labels, encoding=encoding)[0]
    gt, _ = read_labels(gt_path, encoding=encoding)
    try:
        return PairCounts.of(labels, gt, ignore_index=ignore_index)
    except ValueError as problem:
        raise InputError(f"{gt_path}: {problem}", path=gt_path) from None


class GroundTruth:
    """A ground-truth folder matched to a session's image keys, and the counts scored so far."""

    def __init__(self, folder: Path, keys: list[str], *, num_classes: int, ignore_index: int | None = 255,
                 encoding: str = "ids") -> None:
        """Pair ``keys`` with the folder's label files by relative path (then by bare stem when that
        is unique), as ``uosam eval`` pairs a prediction folder with its ground truth."""
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise InputError(f"{self.folder}: ground-truth folder not found", path=self.folder)
        if num_classes < 1:
            raise ValueError(f"num_classes must be at least 1, got {num_classes}")
        self.num_classes, self.ignore_index, self.encoding = num_classes, ignore_index, encoding
        index = index_files(self.folder, LABEL_SUFFIXES)
        by_stem: dict[str, list[Path]] = {}
        for key, path in index.unique.items():
            by_stem.setdefault(key.rsplit("/", 1)[-1], []).append(path)
        self.entries: dict[str, GtEntry] = {}
        self._mious: dict[tuple[str, bool], float] = {}  # (key, current) -> mIoU, until counts or classes change
        for key in keys:
            path = index.unique.get(key)
            stem_matches = by_stem.get(key.rsplit("/", 1)[-1], [])
            if path is None and len(stem_matches) == 1:
                path = stem_matches[0]
            problem = None if path is not None else f"no ground truth {self.folder / key}.png"
            if key in index.duplicates:
                problem = f"{self.folder / key}: several files with this key; not scored"
            self.entries[key] = GtEntry(path if problem is None else None, problem=problem)

    # ---------------------------------------------------------------- filling (GUI thread)
    def set_counts(self, key: str, counts: PairCounts | None, *, current: bool, problem: str | None = None) -> None:
        """Store an image's baseline or current counts (or why they could not be taken)."""
        entry = self.entries.get(key)
        if entry is None:
            return
        self._mious.pop((key, True), None)
        self._mious.pop((key, False), None)
        if problem is not None:
            entry.problem = problem
        elif current:
            entry.current, entry.opening = counts, False
        else:
            entry.baseline = counts

    def mark_opening(self, key: str) -> None:
        """An image edited in an earlier run is being opened to count its labels (until then: no score)."""
        entry = self.entries.get(key)
        if entry is not None and entry.current is None:
            entry.opening = True
            self._mious.pop((key, True), None)

    def set_classes(self, num_classes: int, ignore_index: int | None) -> bool:
        """Score with another class count; returns False when the ignore id changed (the files must
        then be counted again, since ignored pixels are not kept)."""
        if num_classes < 1:
            raise ValueError(f"num_classes must be at least 1, got {num_classes}")
        if num_classes != self.num_classes:
            self._mious.clear()
        self.num_classes = num_classes
        return ignore_index == self.ignore_index

    # ---------------------------------------------------------------- reading
    def miou(self, key: str, *, current: bool) -> float:
        """One image's mIoU in percent (NaN when not scored yet or without ground truth)."""
        known = self._mious.get((key, current))
        if known is not None:
            return known
        entry = self.entries.get(key)
        counts = None if entry is None else (entry.current_or_baseline if current else entry.baseline)
        if current and entry is not None and entry.opening and entry.current is None:
            counts = None  # its edits are not counted yet: no number rather than the baseline's
        value = NO_SCORE if counts is None else counts.miou(self.num_classes, self.ignore_index)
        self._mious[(key, current)] = value
        return value

    def gain(self, key: str) -> float:
        """Current minus baseline mIoU of one image (NaN when not scored)."""
        return self.miou(key, current=True) - self.miou(key, current=False)

    def sort_value(self, key: str, order: GtSort) -> float:
        """Ascending sort value: images without a score go last."""
        gain = self.gain(key)
        if math.isnan(gain):
            return math.inf
        return -gain if order == GtSort.MOST_IMPROVED else gain

    @property
    def scored(self) -> list[str]:
        """Keys whose baseline has been counted."""
        return [key for key, entry in self.entries.items() if entry.baseline is not None]

    @property
    def pending(self) -> int:
        """Images with ground truth whose baseline is not counted yet."""
        return sum(1 for e in self.entries.values() if e.baseline is None and e.problem is None)

    def totals(self, *, current: bool):
        """:class:`~uosam_core.metrics.Scores` of every scored image (one confusion matrix), or None."""
        keys = self.scored
        if not keys:
            return None
        counts = [self.entries[k].current_or_baseline if current else self.entries[k].baseline for k in keys]
        return set_scores(counts, num_classes=self.num_classes, ignore_index=self.ignore_index)

    def totals_line(self) -> str:
        """'GT 14/14 images, 21 classes: baseline mIoU 97.95 pAcc 99.66 | current mIoU 98.01 pAcc 99.70 (+0.06)'."""
        before, after = self.totals(current=False), self.totals(current=True)
        scored, total = len(self.scored), sum(1 for e in self.entries.values() if e.gt_path is not None)
        head = f"GT {scored}/{total} images, {self.num_classes} classes"
        if before is None:
            return f"{head}: scoring ..." if total else f"{head}: no image has ground truth in {self.folder}"
        opening = sum(1 for e in self.entries.values() if e.opening and e.current is None)
        return (f"{head}: baseline mIoU {before.miou:.2f} pAcc {before.pacc:.2f} | current mIoU {after.miou:.2f} "
                f"pAcc {after.pacc:.2f} ({after.miou - before.miou:+.2f})"
                + (f"; {opening} edited image(s) not counted yet (baseline until opened)" if opening else ""))

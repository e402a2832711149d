"""One Refine-all job (Qt-free): make sure an image's refinement result is stored, refining only when
the stored one is missing or stale (other files, settings or model)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from uosam_core.image_io import InputError, check_pair, read_image, read_labels
from uosam_core.pipeline import Progress, Refiner
from uosam_core.result_store import ResultStore, is_refining, load_or_refine

from .session import Session


def _mtime(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


class Superseded(Exception):
    """Raised from a Refine-all pause point when another thread (the shown image's) refines the same image."""


@dataclass(frozen=True)
class StoredImage:
    """What a Refine-all job did for one image."""

    key: str
    refined: bool  # False: a matching stored result was there already
    changed_fraction: float  # share of pixels the refinement changed
    objects: int
    notices: tuple[str, ...] = ()
    risk: float | None = None  # share of the image changed against weak evidence (RefineResult.risk)
    baseline_kept: bool = False  # the precision check kept the baseline (RefineResult.baseline_kept)


def refine_into_store(session: Session, key: str, refiner: Refiner, progress: Progress | None = None,
                      wait: Callable[[], None] = lambda: None) -> StoredImage:
    """Refine ``key`` of ``session`` into ``OUT/.uosam/results`` unless a matching result is stored; a
    matching one is not even read (its summary is). While another thread refines the same image (the
    shown one), waits for it (calling ``wait`` every 50 ms; it may raise to cancel) and takes its result;
    a refinement here stops at its next ``progress`` step when another thread starts refining the same
    image or its stored result is written meanwhile, and takes that one. Raises InputError naming a bad
    file."""
    while True:
        try:
            return _refine_into_store(session, key, refiner, progress, wait)
        except Superseded:
            continue


def _refine_into_store(session: Session, key: str, refiner: Refiner, progress: Progress | None,
                       wait: Callable[[], None]) -> StoredImage:
    record = session.records[key]
    if record.image is None or record.label is None:
        raise InputError(f"{record.image or record.label}: {record.error}")
    store = ResultStore(session.out)
    while is_refining(store.path(key)):
        wait()
        time.sleep(0.05)
    summary = store.matching_summary(key, record.image, record.label, refiner, session.label_encoding)
    if summary is not None:
        return StoredImage(key, False, float(summary["changed_fraction"]), int(summary.get("objects") or 0),
                           risk=summary.get("risk"), baseline_kept=bool(summary.get("baseline_kept")))
    image = read_image(record.image)
    baseline, _ = read_labels(record.label, encoding=session.label_encoding)
    check_pair(image, baseline, record.label, num_classes=None, ignore_ids=refiner.config.ignore_ids)
    path, written = store.path(key), _mtime(store.path(key))

    def report(stage: str, fraction: float) -> None:
        if progress is not None:
            progress(stage, fraction)
        if is_refining(path, besides_this_thread=True) or _mtime(path) != written:
            raise Superseded()  # the shown image's refinement does (or did) the same work: take its result

    obtained = load_or_refine(store, key, record.image, record.label, image, baseline, refiner,
                              label_encoding=session.label_encoding, progress=report)
    result = obtained.result
    return StoredImage(key, not obtained.from_store, round(float(result.changed_fraction), 5), len(result.objects),
                       obtained.notices, risk=round(float(result.risk), 6), baseline_kept=bool(result.baseline_kept))

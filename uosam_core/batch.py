"""Folder runs: refine every image/label pair, resumable, skipping and reporting bad input."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from .image_io import InputError, check_pair, read_image, read_labels, save_json_atomically, write_labels
from .pairing import check_folders, pair_files
from .pipeline import Refiner

SUMMARY_NAME = "uosam-summary.json"


@dataclass
class BatchSummary:
    """What a folder run did: written, already done (resumed), skipped with reasons."""

    written: list[dict] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        """Plain data for the JSON summary."""
        return {"written": self.written, "resumed": self.resumed, "skipped": self.skipped,
                "seconds": round(self.seconds, 2),
                "counts": {"written": len(self.written), "resumed": len(self.resumed),
                           "skipped": len(self.skipped)}}


def _clean_partial(out_dir: Path) -> None:
    for partial in out_dir.rglob("*.part"):
        partial.unlink(missing_ok=True)


def run_folder(refiner: Refiner, images: Path, labels: Path, out_dir: Path, *, label_encoding: str = "ids",
               num_classes: int | None = None, overwrite: bool = False, progress: bool = True,
               report=lambda line: print(line, file=sys.stderr)) -> BatchSummary:
    """Refine all pairs under ``images``/``labels`` into ``out_dir`` (same relative paths, .png).

    Finished outputs are skipped unless ``overwrite`` (so an interrupted run resumes); each bad pair
    is reported in one line and listed in the summary; inputs are only read.
    """
    images, labels, out_dir = Path(images), Path(labels), Path(out_dir)
    check_folders(images, labels, out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _clean_partial(out_dir)
    summary = BatchSummary()
    started = time.perf_counter()
    ignore_ids = refiner.config.ignore_ids
    pairs = pair_files(images, labels)
    for pair in tqdm(pairs, desc="refine", unit="img", disable=not progress, file=sys.stderr):
        if pair.image is None or pair.label is None:
            missing = pair.label if pair.image is None else pair.image
            problem = "no image for this label" if pair.image is None else "no label for this image"
            summary.skipped.append({"key": pair.key, "file": str(missing), "problem": problem})
            report(f"skipped {missing}: {problem}")
            continue
        target = out_dir / f"{pair.key}.png"
        if target.exists() and not overwrite:
            summary.resumed.append(pair.key)
            continue
        try:
            image = read_image(pair.image)
            baseline, label_format = read_labels(pair.label, encoding=label_encoding)
            check_pair(image, baseline, pair.label, num_classes=num_classes, ignore_ids=ignore_ids)
            tick = time.perf_counter()
            result = refiner.refine(image, baseline)
            write_labels(target, result.labels, label_format)
        except InputError as problem:
            summary.skipped.append({"key": pair.key, "file": str(problem).split(":")[0], "problem": str(problem)})
            report(f"skipped {problem}")
            continue
        except Exception as problem:  # noqa: BLE001 - one failing image must not stop the batch
            summary.skipped.append({"key": pair.key, "file": str(pair.image), "problem": repr(problem)})
            report(f"skipped {pair.image}: {problem!r}")
            continue
        summary.written.append({
            "key": pair.key, "seconds": round(time.perf_counter() - tick, 3),
            "changed_fraction": round(result.changed_fraction, 5),
            "objects": len(result.objects),
            "accepted": sum(obj.uses_refined for obj in result.objects),
            "gro_masks": 0 if result.gro is None else len(result.gro.masks),
            "gro_prompts": 0 if result.gro is None else result.gro.prompt_count,
        })
    summary.seconds = time.perf_counter() - started
    record = summary.to_dict() | {"config": refiner.config.to_dict(), "model": refiner.engine.model_id,
                                  "images": str(images), "labels": str(labels)}
    save_json_atomically(out_dir / SUMMARY_NAME, json.dumps(record, indent=2))
    return summary

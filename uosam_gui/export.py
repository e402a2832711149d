"""Export of a cleaned label folder with a log of every decision (Qt-free).

Each image's labels come from: the open document (what the window shows), else its session
record re-applied to a fresh refinement, else (never reviewed) the refinement or the baseline,
as the user chose. The log makes the folder reproducible: per image its source, and per object
its classes, verdict, decision and edited prompts.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from uosam_core.image_io import InputError, read_labels, save_json_atomically, write_labels
from uosam_core.pipeline import Refiner

from .document import NO_EDIT, ImageDocument, prompts_to_dict
from .session import Session

LOG_NAME = "uosam-export-log.json"
UNREVIEWED_CHOICES = ("refined", "baseline")


def _object_log(document: ImageDocument) -> list[dict]:
    return [{
        "index": obj.index, "baseline_class": original, "class_id": obj.class_id, "area": obj.area,
        "iou_with_baseline": round(obj.iou_with_baseline, 4), "score": round(obj.step2_score, 4),
        "auto_verdict": "accept" if obj.accepted else "reject", "decision": obj.decision,
        "used": "refined" if obj.uses_refined else "baseline",
        "edited_prompts": prompts_to_dict(obj.prompts) if obj.edited else None,
    } for obj, original in zip(document.objects, document.original_classes)]


def export_folder(session: Session, refiner: Refiner, target: Path, *, unreviewed: str = "refined",
                  documents: Mapping[str, ImageDocument] | None = None,
                  progress: Callable[[int, int, str], None] | None = None,
                  cancelled: Callable[[], bool] = lambda: False) -> dict:
    """Write every image's final labels to ``target`` (same relative names, input formats) and the log.

    ``unreviewed`` says what an image the user never opened gets: "refined" or "baseline".
    Returns the log (also written to ``target/uosam-export-log.json``).
    """
    if unreviewed not in UNREVIEWED_CHOICES:
        raise ValueError(f"unreviewed must be one of {UNREVIEWED_CHOICES}, got {unreviewed!r}")
    target = Path(target)
    if target.resolve() in (session.images.resolve(), session.labels.resolve()):
        raise InputError(f"{target}: export folder must differ from the input folders")
    target.mkdir(parents=True, exist_ok=True)
    documents = documents or {}
    entries, skipped = [], []
    keys = session.keys()
    started = time.perf_counter()
    for number, key in enumerate(keys):
        if cancelled():
            break
        if progress:
            progress(number, len(keys), key)
        record = session.records[key]
        try:
            if record.image is None or record.label is None:
                raise InputError(f"{record.image or record.label}: {record.error}")
            document = documents.get(key)
            touched = record.objects or record.pixel_edits or record.state in ("reviewed", "edited")
            if document is None and (touched or unreviewed == "refined"):
                document = session.open_document(key, refiner)
            if document is not None:
                write_labels(target / f"{key}.png", document.labels, document.label_format)
                source = record.state if record.state in ("reviewed", "edited") else "refined (not reviewed)"
                changed = float((document.labels != document.result.baseline).mean())
                entries.append({"key": key, "source": source, "objects": _object_log(document),
                                "pixel_edits": int((document.pixel_edits != NO_EDIT).sum()),
                                "changed_fraction": round(changed, 5)})
            else:
                baseline, label_format = read_labels(record.label, encoding=session.label_encoding)
                write_labels(target / f"{key}.png", baseline, label_format)
                entries.append({"key": key, "source": "baseline (not reviewed)", "objects": [], "pixel_edits": 0,
                                "changed_fraction": 0.0})
        except Exception as problem:  # noqa: BLE001 - one bad image must not stop the export
            skipped.append({"key": key, "problem": str(problem) if isinstance(problem, InputError) else repr(problem)})
    if progress:
        progress(len(keys), len(keys), "")
    log = {"exported": time.strftime("%Y-%m-%d %H:%M:%S"), "seconds": round(time.perf_counter() - started, 2),
           "images": str(session.images), "labels": str(session.labels), "session": str(session.path),
           "model": refiner.engine.model_id, "config": refiner.config.to_dict(), "unreviewed": unreviewed,
           "complete": len(entries) + len(skipped) == len(keys), "entries": entries, "skipped": skipped}
    save_json_atomically(target / LOG_NAME, json.dumps(log, indent=1))
    return log

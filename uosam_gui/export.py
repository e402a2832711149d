"""Export of a cleaned label folder with a log of every decision (Qt-free).

Each image's labels come from: the open document (what the window shows), else its session
record re-applied to its refinement (the stored result in ``OUT/.uosam/results`` when it matches;
refined now only when none does), else (never reviewed) the refinement, the baseline, or nothing
(skipped), as the user chose. The log makes the folder reproducible: per image its source, and per object
its classes, verdict, decision and edited prompts.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict
from enum import StrEnum
from pathlib import Path

from uosam_core.config import settings_changes
from uosam_core.image_io import InputError, read_labels
from uosam_core.pipeline import Cancelled, Progress, Refiner

from .document import NO_EDIT, ImageDocument, prompts_to_dict
from .output_files import SaveError, writable_problem, write_label_file, write_text_file
from .session import ImageRecord, ImageState, Session

LOG_NAME = "uosam-export-log.json"
UNREVIEWED_CHOICES = ("refined", "baseline", "skip")


class LabelSource(StrEnum):
    """Where an exported image's labels came from (the log's "source")."""

    EDITED = "edited"  # the user's changes (still in effect)
    REVIEWED = "reviewed"  # saved by the user without changes: the refinement
    REFINED = "refined (not reviewed)"
    BASELINE = "baseline (not reviewed)"
    SKIPPED = "not exported (not reviewed)"


def _object_log(document: ImageDocument) -> list[dict]:
    return [{
        "index": obj.index, "baseline_class": original, "class_id": obj.class_id, "area": obj.area,
        "iou_with_baseline": round(obj.iou_with_baseline, 4), "score": round(obj.step2_score, 4),
        "auto_verdict": "accept" if obj.accepted and not obj.held_by_check else "reject", "decision": obj.decision,
        "used": "refined" if obj.uses_refined else "baseline",
        "edited_prompts": prompts_to_dict(obj.prompts) if obj.edited else None,
    } for obj, original in zip(document.objects, document.original_classes)]


def _source(record: ImageRecord, document: ImageDocument | None, unreviewed: str) -> LabelSource:
    """Where an image's exported labels come from: a change still in effect makes it "edited" (undone
    changes do not count), a save without changes "reviewed", else the user's choice for the rest."""
    if document is not None:
        edited = document.is_edited
    else:
        edited = record.state == ImageState.EDITED and record.has_user_changes
    if edited:
        return LabelSource.EDITED
    if record.state == ImageState.REVIEWED or (record.saved and record.state == ImageState.EDITED):
        return LabelSource.REVIEWED
    return {"refined": LabelSource.REFINED, "baseline": LabelSource.BASELINE}.get(unreviewed, LabelSource.SKIPPED)


def export_folder(session: Session, refiner: Refiner, target: Path, *, unreviewed: str = "refined",
                  documents: Mapping[str, ImageDocument] | None = None,
                  progress: Callable[[int, int, str], None] | None = None,
                  cancelled: Callable[[], bool] = lambda: False, refine_progress: Progress | None = None) -> dict:
    """Write every image's final labels to ``target`` (same relative names, input formats) and the log.

    ``unreviewed`` says what an image without changes in effect and never saved gets: "refined" (its
    stored result, refined now when there is none), "baseline", or "skip" (not written; listed in the
    log's ``not_exported``). ``refine_progress`` is passed to each refinement the export needs (it may
    raise Cancelled: the export stops there, incomplete). A missing ``target`` folder is created.
    Returns the log (also written to ``target/uosam-export-log.json``). A bad input image
    is skipped and listed; a file that cannot be written stops the export with a SaveError (one line).
    """
    if unreviewed not in UNREVIEWED_CHOICES:
        raise ValueError(f"unreviewed must be one of {UNREVIEWED_CHOICES}, got {unreviewed!r}")
    target = Path(target)
    if target.resolve() in (session.images.resolve(), session.labels.resolve()):
        raise InputError(f"{target}: export folder must differ from the input folders")
    problem = writable_problem(target)
    if problem:
        raise SaveError(problem)
    documents = documents or {}
    entries, skipped, not_exported = [], [], []
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
            source = _source(record, document, unreviewed)
            if source == LabelSource.SKIPPED:
                not_exported.append(key)
                continue
            if source == LabelSource.BASELINE:
                baseline, label_format = read_labels(record.label, encoding=session.label_encoding)
                write_label_file(target / f"{key}.png", baseline, label_format)
                entries.append({"key": key, "source": source, "objects": [], "pixel_edits": 0,
                                "changed_fraction": 0.0})
                continue
            if document is None:
                document = session.open_document(key, refiner, progress=refine_progress)
            write_label_file(target / f"{key}.png", document.labels, document.label_format)
            changed = float((document.labels != document.result.baseline).mean())
            entry = {"key": key, "source": source, "objects": _object_log(document),
                     "pixel_edits": int((document.pixel_edits != NO_EDIT).sum()),
                     "changed_fraction": round(changed, 5), "risk": round(float(document.result.risk), 6),
                     "baseline_kept": bool(document.result.baseline_kept),
                     "refinement_chosen_over_kept_baseline": bool(document.result.refine_anyway),
                     "baseline_check": None if document.result.precision is None else
                     asdict(document.result.precision)}
            other = settings_changes(refiner.config.to_dict(), document.refiner.config.to_dict())
            if other:  # reviewed with earlier settings (kept so): the log says which differ from "config"
                entry["settings_differ"] = other
            entries.append(entry)
        except Cancelled:
            break
        except SaveError:
            raise  # the target cannot be written: every further image would fail the same way
        except Exception as problem:  # noqa: BLE001 - one bad image must not stop the export
            skipped.append({"key": key, "problem": str(problem) if isinstance(problem, InputError) else repr(problem)})
    if progress:
        progress(len(keys), len(keys), "")
    log = {"exported": time.strftime("%Y-%m-%d %H:%M:%S"), "seconds": round(time.perf_counter() - started, 2),
           "images": str(session.images), "labels": str(session.labels), "session": str(session.path),
           "model": refiner.engine.model_id, "config": refiner.config.to_dict(), "unreviewed": unreviewed,
           "complete": len(entries) + len(skipped) + len(not_exported) == len(keys), "entries": entries,
           "skipped": skipped, "not_exported": not_exported}
    write_text_file(target / LOG_NAME, json.dumps(log, indent=1))
    return log

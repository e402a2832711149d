"""``process(job) -> record``: read one pair, refine it, write its output atomically, describe it.

The same function runs in the serial executor and in every Ray worker, so both write the same bytes.
Reading is split out (:func:`load`) so a prefetching reader can do it on a thread while the model
works on the previous image.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .image_io import InputError, LabelFormat, check_pair, read_image, read_labels, write_labels
from .jobs import Job, ModelIdentity, Settings
from .records import Status, file_stat, sha256_file, sha256_if_unchanged
from .result_store import ResultStore, load_or_refine


@dataclass(frozen=True)
class Loaded:
    """A job's inputs, read and checked: image HxWx3 uint8, baseline HxW int32, and the files' hashes."""

    job: Job
    image: np.ndarray
    baseline: np.ndarray
    label_format: LabelFormat
    hashes: dict  # image_sha256, image_stat, label_sha256, label_stat


@dataclass(frozen=True)
class RunContext:
    """What every record of a run shares: settings (and their hash), model identity, OUT."""

    settings: Settings
    settings_sha256: str
    model: ModelIdentity
    out_dir: Path
    use_stored: bool = True  # a stored refinement of the same inputs, settings and model is used (not --overwrite)


def _hash(path: Path, name: str, previous: dict | None) -> dict:
    previous = previous or {}
    return {f"{name}_sha256": sha256_if_unchanged(path, previous.get(f"{name}_stat"), previous.get(f"{name}_sha256")),
            f"{name}_stat": file_stat(path)}


def load(job: Job, settings: Settings) -> Loaded:
    """Hash, read and check the job's image and label; raises InputError naming the bad file."""
    try:
        hashes = _hash(job.image, "image", job.previous) | _hash(job.label, "label", job.previous)
    except OSError as problem:
        bad = Path(problem.filename) if problem.filename else job.image
        raise InputError(f"{bad}: cannot read ({problem.strerror or problem})", path=bad) from None
    image = read_image(job.image)
    baseline, label_format = read_labels(job.label, encoding=settings.label_encoding)
    check_pair(image, baseline, job.label, num_classes=settings.num_classes, ignore_ids=settings.config.ignore_ids)
    return Loaded(job, image, baseline, label_format, hashes)


def _base_record(job: Job, context: RunContext, status: Status) -> dict:
    return {"key": job.key, "status": status, "image": str(job.image), "label": str(job.label),
            "output": job.output.relative_to(context.out_dir).as_posix(),
            "settings_sha256": context.settings_sha256, "model": context.model.model_id,
            "checkpoint_sha256": context.model.checkpoint_sha256, "time": time.time(),
            "host": socket.gethostname(), "pid": os.getpid()}


def skipped_record(job: Job, context: RunContext, problem: BaseException) -> dict:
    """The record of a job that could not be refined: the file at fault and the one-line problem."""
    record = _base_record(job, context, Status.SKIPPED)
    if isinstance(problem, InputError):
        path = getattr(problem, "path", None)
        record["file"] = str(path) if path is not None else str(job.image)
        record["problem"] = str(problem)
    else:
        record["file"] = str(job.image)
        record["problem"] = f"{job.image}: {type(problem).__name__}: {problem}"
    return record


def refine_loaded(loaded: Loaded, refiner: object, context: RunContext) -> dict:
    """Refine loaded inputs with ``refiner`` (a :class:`~uosam_core.pipeline.Refiner`), write the
    output atomically (temp file + rename) and return its record (status "written"). A refinement
    stored in OUT for the same inputs, settings and model is used instead (``context.use_stored``),
    also when only the baseline check's bars changed: then it is judged again (no SAM)."""
    job = loaded.job
    tick = time.perf_counter()
    obtained = load_or_refine(ResultStore(context.out_dir), job.key, job.image, job.label, loaded.image,
                              loaded.baseline, refiner, label_encoding=context.settings.label_encoding,
                              use_stored=context.use_stored, hashes=loaded.hashes)
    result = obtained.result
    seconds = time.perf_counter() - tick
    try:
        write_labels(job.output, result.labels, loaded.label_format)
    except OSError as problem:  # the output's fault, not the input's: name the output
        raise InputError(f"{job.output}: cannot write the output ({problem.strerror or problem})",
                         path=job.output) from None
    record = _base_record(job, context, Status.WRITTEN) | loaded.hashes
    if obtained.unusable:
        record["notice"] = obtained.unusable  # a stored result that could not be used: refined again
    if obtained.not_stored:  # the app would refine this image again (docs/decisions/0012)
        record["result_not_stored"] = obtained.not_stored
    record |= {"output_sha256": sha256_file(job.output), "output_stat": file_stat(job.output)}
    record["stats"] = {
        "seconds": round(seconds, 3),
        "from_store": obtained.from_store,
        "changed_fraction": round(float(result.changed_fraction), 5),
        "risk": round(float(result.risk), 6),
        "baseline_kept": bool(result.baseline_kept),
        "baseline_check": None if result.precision is None else (
            asdict(result.precision) | {"applied": bool(refiner.config.precision.enabled),
                                        "failed": result.precision.failed_test()}),
        "objects": len(result.objects),
        "accepted": sum(bool(obj.uses_refined) for obj in result.objects),
        "gro_masks": 0 if result.gro is None else len(result.gro.masks),
        "gro_prompts": 0 if result.gro is None else int(result.gro.prompt_count),
    }
    return record


def process(job: Job, refiner: object, context: RunContext, loaded: Loaded | BaseException | None = None) -> dict:
    """Read (unless ``loaded`` is given: the inputs, or the error reading them raised), refine, write.

    Returns the job's record; a bad input or a failing refinement gives a "skipped" record instead of
    raising, so one image never stops a batch. KeyboardInterrupt and SystemExit pass through.
    """
    try:
        if loaded is None:
            loaded = load(job, context.settings)
        if isinstance(loaded, BaseException):
            raise loaded
        return refine_loaded(loaded, refiner, context)
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as problem:  # noqa: BLE001 - one failing image must not stop the batch
        return skipped_record(job, context, problem)

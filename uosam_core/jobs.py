"""Planning a folder run: which outputs are done (their record matches), which must be (re)done, and why.

Planning only reads (folder listings, file stats, record files, kept settings, and the bytes of files
whose stat changed since their record); it writes nothing, so it can run anywhere, any number of times.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from .atomic import write_text
from .config import RefineConfig, settings_changes
from .records import STATE_DIR, Status, sha256_if_unchanged


@dataclass(frozen=True)
class Settings:
    """Everything besides the inputs and the model that decides an output's bytes (and its checks)."""

    config: RefineConfig
    label_encoding: str = "ids"
    num_classes: int | None = None

    def to_dict(self) -> dict:
        """Plain data for records and the summary."""
        return {"config": self.config.to_dict(), "label_encoding": self.label_encoding,
                "num_classes": self.num_classes}

    @property
    def sha256(self) -> str:
        """Hex sha256 of :meth:`to_dict` as canonical JSON."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ModelIdentity:
    """Which model made an output: the engine's ``model_id`` and, when known, the checkpoint's sha256."""

    model_id: str
    checkpoint_sha256: str | None = None

    @classmethod
    def of(cls, engine: object) -> ModelIdentity:
        """The identity of a loaded :class:`~uosam_core.engine.SamEngine`."""
        return cls(str(engine.model_id), getattr(engine, "checkpoint_sha256", None))


@dataclass(frozen=True)
class Job:
    """One image to refine: ``key`` (relative path without suffix), its files, and its output path.

    ``previous`` is the last record of this output (or None), whose stored hashes let the worker skip
    re-hashing files whose size and mtime did not change.
    """

    key: str
    image: Path
    label: Path
    output: Path
    previous: dict | None = None


@dataclass
class Plan:
    """The outcome of planning: jobs to run, records of outputs already done, redo reasons, bad pairs."""

    jobs: list[Job] = field(default_factory=list)
    done: list[dict] = field(default_factory=list)
    redo: list[tuple[str, str]] = field(default_factory=list)  # (output relative to OUT, reason)
    skipped: list[dict] = field(default_factory=list)  # {"key", "file", "problem"}


def output_path(out_dir: Path, key: str) -> Path:
    """Where the refined labels of ``key`` go: same relative path under OUT, as .png."""
    return Path(out_dir) / f"{key}.png"


SETTINGS_DIR = "settings"  # OUT/.uosam/settings/<sha256>.json: each run's settings, to say what changed


def _settings_path(out_dir: Path, sha256: str) -> Path:
    return Path(out_dir) / STATE_DIR / SETTINGS_DIR / f"{sha256}.json"


def keep_settings(out_dir: Path, settings: Settings) -> None:
    """Keep ``settings`` under their hash in OUT (once), so a later run can name what it changed."""
    path = _settings_path(out_dir, settings.sha256)
    if not path.is_file():
        write_text(path, json.dumps(settings.to_dict(), sort_keys=True))


def settings_change(out_dir: Path, old_sha256: str | None, new: dict | None, most: int = 3) -> str:
    """"settings changed" and, when the old settings were kept in OUT, which ones (``old -> new``)."""
    try:
        old = json.loads(_settings_path(out_dir, old_sha256).read_text()) if old_sha256 and new else None
    except (OSError, ValueError):
        old = None
    if not isinstance(old, dict):
        return "settings changed"
    changes = settings_changes(old, new)
    more = f", and {len(changes) - most} more" if len(changes) > most else ""
    return f"settings changed: {', '.join(changes[:most])}{more}" if changes else "settings changed"


def _changed(path: Path, record: dict, name: str) -> bool:
    try:
        return sha256_if_unchanged(path, record.get(f"{name}_stat"), record.get(f"{name}_sha256")) \
            != record.get(f"{name}_sha256")
    except OSError:
        return True


def redo_reason(record: dict | None, job: Job, settings_sha256: str, model: ModelIdentity) -> str | None:
    """Why the output of ``job`` must be made again, or None when ``record`` proves it is done.

    Checked in this order: a record exists and is a written output, same settings, same model
    (id and checkpoint hash), the output is there unchanged, the image and label are unchanged.
    """
    if record is None:
        return "no record of how it was made"
    if record.get("status") != Status.WRITTEN:
        return "it was skipped before"
    if record.get("settings_sha256") != settings_sha256:
        return "settings changed"
    if record.get("model") != model.model_id:
        return f"model changed ({record.get('model')} -> {model.model_id})"
    if model.checkpoint_sha256 and record.get("checkpoint_sha256") not in (None, model.checkpoint_sha256):
        return "checkpoint changed"
    if not job.output.is_file():
        return "output missing"
    if _changed(job.output, record, "output"):
        return "output changed since it was written"
    if _changed(job.image, record, "image"):
        return "image changed"
    if _changed(job.label, record, "label"):
        return "label changed"
    return None


def make_plan(pairs: list, out_dir: Path, records: dict[str, dict], settings_sha256: str, model: ModelIdentity,
              *, overwrite: bool = False, settings: dict | None = None) -> Plan:
    """Sort ``pairs`` (from :func:`~uosam_core.pairing.pair_files`) into done, to-do and bad.

    ``records`` maps key -> latest record. A pair with a problem (unpaired, ambiguous) is skipped with
    its one-line reason. An output is done when its record matches (:func:`redo_reason`); otherwise
    it is a job, and when an output or a record already existed the plan says why it is redone (with
    ``settings``, the current settings as plain data, naming the settings that changed). ``overwrite``
    redoes everything.
    """
    plan = Plan()
    for pair in pairs:
        problem = getattr(pair, "problem", None)
        if problem is None and (pair.image is None or pair.label is None):
            problem = "no image for this label" if pair.image is None else "no label for this image"
        if problem is not None:
            bad_file = getattr(pair, "file", None) or (pair.label if pair.image is None else pair.image)
            plan.skipped.append({"key": pair.key, "file": str(bad_file), "problem": problem})
            continue
        job = Job(pair.key, Path(pair.image), Path(pair.label), output_path(out_dir, pair.key), records.get(pair.key))
        record = records.get(pair.key)
        if overwrite:
            if job.output.exists():
                plan.redo.append((f"{pair.key}.png", "--overwrite"))
            plan.jobs.append(job)
            continue
        reason = redo_reason(record, job, settings_sha256, model)
        if reason is None:
            plan.done.append(record)
            continue
        if reason == "settings changed":
            reason = settings_change(out_dir, record.get("settings_sha256"), settings)
        if job.output.exists() or (record is not None and record.get("status") == Status.WRITTEN):
            plan.redo.append((f"{pair.key}.png", reason))  # a retried bad input is reported when it fails
        plan.jobs.append(job)
    return plan

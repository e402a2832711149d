"""Folder runs as plan -> process -> record: resumable, shareable between processes, honest about why.

1. plan (:mod:`.jobs`): pair the files, check every existing output against its record;
2. claim (:mod:`.claims`) each job as the executor pulls it, so several processes or machines on one
   OUT split the work; re-check the records after claiming (another process may just have done it);
3. process (:mod:`.refine_job`) in an executor (:mod:`.executors`: serial by default, or Ray);
4. record (:mod:`.records`): append the job's record after its PNG is in place, release the claim.
The summary ``OUT/uosam-summary.json`` is built from the records and written atomically, also when
the run is interrupted (Ctrl-C). See docs/decisions/0007-batch-and-ray.md.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from .atomic import is_own_temp, write_text
from .claims import Claims
from .config import RefineConfig
from .executors import Executor, SerialExecutor
from .interrupts import Terminated, deferred_sigint, sigterm_as_interrupt
from .jobs import Job, Settings, keep_settings, make_plan, redo_reason
from .pairing import check_folders, pair_files
from .records import STATE_DIR, RecordBook, Status
from .refine_job import RunContext

SUMMARY_NAME = "uosam-summary.json"

Report = Callable[[str], None]


def _stderr(line: str) -> None:
    tqdm.write(line, file=sys.stderr)  # above the progress bar, not through it


@dataclass
class BatchSummary:
    """What a folder run did. ``written``: records this run wrote; ``resumed``: records of outputs
    already done (earlier runs, or another process meanwhile); ``skipped``: {key, file, problem};
    ``redone``: {key, reason}; ``busy``: keys a live process elsewhere was refining."""

    written: list[dict] = field(default_factory=list)
    resumed: list[dict] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)
    redone: list[dict] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False
    terminated: bool = False  # the interruption was SIGTERM
    stopped: str | None = None  # why the run stopped early: OUT's own files could not be written

    def to_dict(self) -> dict:
        """Plain data for the JSON summary."""
        return {"written": self.written, "resumed": self.resumed, "skipped": self.skipped,
                "redone": self.redone, "busy": self.busy, "interrupted": self.interrupted,
                "terminated": self.terminated, "stopped": self.stopped,
                "seconds": round(self.seconds, 2),
                "counts": {"written": len(self.written), "resumed": len(self.resumed),
                           "skipped": len(self.skipped)}}


class OutFolderError(Exception):
    """The run's own files in OUT (records, claims, summary) could not be written: it stops."""


def clean_own_temps(out_dir: Path, claims: Claims, *, older_than_s: float | None = None) -> int:
    """Remove temp files our atomic writes left under OUT (never a user's file); returns how many.

    When another live process works on OUT, only temps older than ``older_than_s`` (default: the
    claims' stale age) go, so a temp it is writing right now is never pulled away.
    """
    live = claims.any_live()
    limit = (older_than_s if older_than_s is not None else claims.stale_after_s) if live else None
    now = time.time()
    removed = 0
    for path in Path(out_dir).rglob("*"):
        stale_claim = path.parent == claims.folder and path.name.endswith(".stale")
        if not (is_own_temp(path) or stale_claim):
            continue
        try:
            if limit is not None and now - path.stat().st_mtime < limit:
                continue
            path.unlink()
            removed += 1
        except (FileNotFoundError, IsADirectoryError):
            continue
    return removed


def _skip_entry(record: dict) -> dict:
    return {"key": record["key"], "file": record.get("file", record.get("image", "")),
            "problem": record.get("problem", "")}


class _Run:
    """State of one run on the driver: the claiming job iterator and the ``done`` callback."""

    def __init__(self, out_dir: Path, book: RecordBook, claims: Claims, context: RunContext,
                 summary: BatchSummary, report: Report, started_at: float) -> None:
        self.out_dir, self.book, self.claims, self.context = out_dir, book, claims, context
        self.summary, self.report, self.started_at = summary, report, started_at
        self.bar: tqdm | None = None

    def claimed_jobs(self, jobs: list[Job]) -> Iterator[Job]:
        """Yield the jobs this process claims; jobs another process holds or just finished are left."""
        for job in jobs:
            try:
                claimed = self.claims.try_claim(job.key)
            except OSError as problem:
                raise OutFolderError(f"{self.out_dir}: cannot write the claim of {job.key} "
                                     f"({problem.strerror or problem})") from None
            if not claimed:
                self.summary.busy.append(job.key)
                self._tick()
                continue
            self.book.refresh()
            record = self.book.latest.get(job.key)
            if record is not None and record.get("time", 0) >= self.started_at and \
                    record.get("settings_sha256") == self.context.settings_sha256:
                finished_here = record.get("status") == Status.WRITTEN and redo_reason(
                    record, job, self.context.settings_sha256, self.context.model) is None
                if finished_here or record.get("status") == Status.SKIPPED:
                    self.claims.release(job.key)  # another process did it after we planned
                    if finished_here:
                        self.summary.resumed.append(record)
                    else:
                        self.summary.skipped.append(_skip_entry(record))
                    self._tick()
                    continue
            yield job

    def done(self, job: Job, record: dict) -> None:
        """Append the job's record (its output is already in place), release its claim, report.

        Ctrl-C waits until the record, the claim and the summary agree."""
        with deferred_sigint():
            try:
                self.book.append(record)
            except OSError as problem:
                raise OutFolderError(f"{self.out_dir}: cannot write the record of {job.key} "
                                     f"({problem.strerror or problem})") from None
            self.claims.release(job.key)
            if record.get("notice"):
                self.report(record["notice"])
            if record["status"] == Status.WRITTEN:
                self.summary.written.append(record)
            else:
                self.summary.skipped.append(_skip_entry(record))
                self.report(f"skipped {record.get('problem')}")
            self._tick()

    def _tick(self) -> None:
        if self.bar is not None:
            self.bar.update(1)


def run_folder(refiner: object | None, images: Path, labels: Path, out_dir: Path, *, label_encoding: str = "ids",
               num_classes: int | None = None, overwrite: bool = False, progress: bool = True,
               report: Report = _stderr, executor: Executor | None = None, config: RefineConfig | None = None,
               threads: int | None = None) -> BatchSummary:
    """Refine all pairs under ``images``/``labels`` into ``out_dir`` (same relative paths, .png).

    ``refiner`` runs the serial executor (default); pass ``executor`` (and ``config``) for another.
    Outputs whose record matches the current inputs, settings and model are kept (resume); the others
    are redone, one line each saying why. Each bad pair is reported in one line and listed in the
    summary; inputs are only read. Ctrl-C abandons the image in flight and returns a summary with
    ``interrupted`` set (records so far are kept, the summary is written).
    """
    images, labels, out_dir = Path(images), Path(labels), Path(out_dir)
    check_folders(images, labels, out_dir)
    if executor is None:
        executor = SerialExecutor(refiner, threads=threads)
    config = config or refiner.config
    settings = Settings(config, label_encoding, num_classes)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    started_at = time.time()
    book, claims = RecordBook(out_dir), Claims(out_dir)
    clean_own_temps(out_dir, claims)
    summary = BatchSummary()
    model = executor.start()
    context = RunContext(settings, settings.sha256, model, out_dir, use_stored=not overwrite)
    plan = make_plan(pair_files(images, labels), out_dir, book.latest, context.settings_sha256, model,
                     overwrite=overwrite, settings=settings.to_dict())
    with contextlib.suppress(OSError):  # only to name what a later run changed
        keep_settings(out_dir, settings)
    summary.resumed.extend(plan.done)
    summary.skipped.extend(plan.skipped)
    for item in plan.skipped:
        report(f"skipped {item['file']}: {item['problem']}")
    for output, reason in plan.redo:
        summary.redone.append({"key": output[: -len(".png")], "reason": reason})
        report(f"redo {output}: {reason}")
    run = _Run(out_dir, book, claims, context, summary, report, started_at)
    run.bar = tqdm(total=len(plan.jobs), desc="refine", unit="img", disable=not progress, file=sys.stderr)
    try:
        with sigterm_as_interrupt():
            executor.run(run.claimed_jobs(plan.jobs), context, run.done)
    except KeyboardInterrupt as stop:
        summary.interrupted, summary.terminated = True, isinstance(stop, Terminated)
    except OutFolderError as problem:
        summary.stopped = str(problem)
    finally:
        run.bar.close()
        with contextlib.suppress(OSError):  # a claim left behind is taken over as a dead process's
            claims.release_all()
        book.close()
        executor.close()
        summary.seconds = time.perf_counter() - started
        try:
            save_summary(out_dir, summary, context, images, labels)
        except OSError as problem:
            summary.stopped = summary.stopped or (f"{out_dir / SUMMARY_NAME}: cannot write the summary "
                                                  f"({problem.strerror or problem})")
    return summary


def save_summary(out_dir: Path, summary: BatchSummary, context: RunContext, images: Path, labels: Path) -> None:
    """Write ``OUT/uosam-summary.json`` atomically (a unique temp name: concurrent saves never clash)."""
    data = summary.to_dict() | {
        "config": context.settings.config.to_dict(), "settings": context.settings.to_dict(),
        "settings_sha256": context.settings_sha256, "model": context.model.model_id,
        "checkpoint_sha256": context.model.checkpoint_sha256, "images": str(images), "labels": str(labels),
        "records": f"{STATE_DIR}/records"}
    write_text(Path(out_dir) / SUMMARY_NAME, json.dumps(data, indent=2))

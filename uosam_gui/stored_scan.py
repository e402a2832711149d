"""Stored results the file list does not show yet: when a folder is opened (and after the settings or
the model change, or an export stored results), every image still "not run" whose stored result
(``OUT/.uosam/results``, e.g. from ``uosam refine``) matches its files and the current settings and
model (the baseline check's bars aside: opening it judges it with the current ones, without SAM) is
shown as refined, without being opened. The checking (file hashes, the stored files' summaries; see
:meth:`ResultStore.matching_summary`) runs on a background thread at a low priority; the GUI thread
only updates the records that match."""

from __future__ import annotations

import contextlib
import os
import threading

from PySide6.QtCore import QObject, Signal

from uosam_core.result_store import ResultStore

from .controller import RefineController
from .notifications import Level, Notifier
from .review import Reviewer
from .session import ImageRecord, ImageState
from .worker import SharedModel

LOW_PRIORITY = 10  # niceness of the checking thread (Linux: per thread), so refinements go first


def _unopened(record: ImageRecord) -> bool:
    """An image the session has no result of, and nothing decided or painted on."""
    return record.state == ImageState.NOT_RUN and not record.objects and not record.pixel_edits


class StoredScan(QObject):
    """Marks "not run" images with a matching stored result as refined (one background check at a time;
    a newer one makes an older one's answers void)."""

    _found = Signal(int, str, object)  # generation, key, summary
    _checked = Signal(int)  # generation
    finished = Signal(int)  # images marked refined by the last check

    def __init__(self, reviewer: Reviewer, controller: RefineController, notifier: Notifier,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.reviewer, self.controller, self.notifier = reviewer, controller, notifier
        self._generation = 0
        self._marked = 0
        self.running = False
        self._found.connect(self._on_found)
        self._checked.connect(self._on_checked)

    def start(self) -> None:
        """Check the open session's "not run" images now (any check under way is dropped)."""
        session = self.reviewer.state.session
        self._generation += 1
        if session is None:
            return
        jobs = [(key, record.image, record.label) for key, record in session.records.items()
                if _unopened(record) and record.image is not None and record.label is not None]
        self._marked, self.running = 0, True
        thread = threading.Thread(target=self._check, name="uosam-stored-scan", daemon=True,
                                  args=(self._generation, ResultStore(session.out), jobs, self.controller.model,
                                        session.label_encoding))
        thread.start()

    def _check(self, generation: int, store: ResultStore, jobs: list, model: SharedModel, encoding: str) -> None:
        """The background thread: hash and compare only images that have a stored file."""
        with contextlib.suppress(AttributeError, OSError):  # no per-thread priority on this system
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), LOW_PRIORITY)
        refiner = model.refiner or model.stand_in()  # the stand-in: the model's identity, known before it loads
        try:
            for key, image, label in jobs if refiner is not None else []:
                if generation != self._generation:
                    return
                try:
                    summary = store.matching_summary(key, image, label, refiner, encoding, other_bars=True)
                except OSError:
                    continue  # the image's own refinement says what is wrong with its files
                if summary is not None:
                    self._found.emit(generation, key, summary)
            self._checked.emit(generation)
        except RuntimeError:  # the window is gone
            return

    def _on_found(self, generation: int, key: str, summary: dict) -> None:
        session = self.reviewer.state.session
        if generation != self._generation or session is None or key not in session.records:
            return
        record = session.records[key]
        if not _unopened(record):
            return  # opened, refined or edited meanwhile: its record knows better
        record.state, record.error = ImageState.REFINED, None
        record.changed_fraction = summary.get("changed_fraction")
        record.risk = summary.get("risk")
        record.baseline_kept = bool(summary.get("baseline_kept"))
        self._marked += 1
        self.reviewer.recordChanged.emit(key)  # the list's line; the ground truth scores the stored labels

    def _on_checked(self, generation: int) -> None:
        if generation != self._generation:
            return
        self.running = False
        session = self.reviewer.state.session
        if self._marked and session is not None:
            self.reviewer.wait_for_background_save()
            try:
                session.save()
            except OSError as problem:
                self.notifier.notify(f"session not saved: {problem}", Level.ERROR)
        self.finished.emit(self._marked)

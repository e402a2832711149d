"""Image > Refine all: every image's result stored on the batch worker, one image at a time, at the
lowest priority (it waits while the user edits or the shown image refines). Progress per file in the
file list; cancellable; the user keeps reviewing meanwhile. Images whose matching result is stored
already are not refined again; a stored image shows at once (see docs/decisions/0012)."""

from __future__ import annotations

import copy
import itertools
import time

from PySide6.QtCore import QObject, Signal

from uosam_core.result_store import ResultStore

from .controller import RefineController
from .file_panel import FilePanel
from .notifications import Level, Notifier, image_topic
from .refine_all_job import StoredImage
from .review import Reviewer
from .session import ImageState


def plural(count: int, noun: str) -> str:
    """"1 image", "3 images"."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


STAGES = {"model": "loading model", "encode": "encoding", "lro": "LRO", "gro": "GRO", "done": "done"}


class RefineAll(QObject):
    """Feeds the batch worker one job at a time; ``counts`` says what the current (or last) run did."""

    runningChanged = Signal(bool)
    finished = Signal(dict)  # counts: refined, stored (already), failed, cancelled (bool), seconds

    _job = Signal(int, str, object)

    def __init__(self, reviewer: Reviewer, controller: RefineController, notifier: Notifier,
                 file_panel: FilePanel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.reviewer, self.controller, self.notifier, self.file_panel = reviewer, controller, notifier, file_panel
        worker = controller.batch_worker
        self.worker = worker
        self._job.connect(worker.refine_to_store)
        worker.stored.connect(self._on_stored)
        worker.failed.connect(self._on_failed)
        worker.cancelled.connect(self._on_cancelled)
        worker.progress.connect(self._on_progress)
        self._tokens = itertools.count(1_000_000)  # apart from the controller's tokens
        self.queue: list[str] = []
        self.token: int | None = None
        self.key: str | None = None
        self.counts: dict = {}
        self._started = 0.0
        self.session = None  # the session being refined (another one opened meanwhile stops the run)
        reviewer.state.sessionChanged.connect(self._on_session)

    @property
    def running(self) -> bool:
        """Whether a Refine all is under way."""
        return self.token is not None or bool(self.queue)

    def toggle(self) -> None:
        """The menu action: start, or stop a running one."""
        self.stop() if self.running else self.start()

    def start(self) -> None:
        """Queue every image of the session that can be refined (list order); skips bad pairs."""
        session = self.reviewer.state.session
        if session is None or self.running:
            return
        self.session = session
        self.queue = [key for key, record in session.records.items()
                      if record.image is not None and record.label is not None]
        self.counts = {"refined": 0, "stored": 0, "failed": 0, "cancelled": False, "seconds": 0.0}
        self._started = time.perf_counter()
        for key in self.queue:
            self.file_panel.set_note(key, "queued")
        stored = self._stored_already(session)
        if stored is None:
            what = f"{plural(len(self.queue), 'image')} (any already stored with these settings are skipped)"
        else:
            what = f"{plural(len(self.queue) - stored, 'image')} to refine" + (f", {stored} already stored"
                                                                                 if stored else "")
        self.notifier.notify(f"refine all: {what} in the background (you can keep reviewing)")
        self.runningChanged.emit(True)
        self._next()

    def _stored_already(self, session) -> int | None:
        """How many queued images have a stored result matching the current settings (None: the model is
        not loaded yet, so the settings' store key is unknown). Hashes only images with a stored file."""
        refiner = self.controller.model.refiner
        if refiner is None:
            return None
        store, count = ResultStore(session.out), 0
        for key in self.queue:
            record = session.records[key]
            try:
                matches = store.matching_summary(key, record.image, record.label, refiner,
                                                 session.label_encoding) is not None
            except OSError:
                matches = False
            count += matches
        return count

    def stop(self) -> None:
        """Cancel: the image in flight stops at its next step; nothing more is started."""
        for key in self.queue:
            self.file_panel.set_note(key, "")
        self.queue.clear()
        self.counts["cancelled"] = True
        if self.token is not None:
            self.worker.cancel(self.token)
        else:
            self._done()

    def _on_session(self) -> None:
        if self.running and self.reviewer.state.session is not self.session:
            self.stop()

    def _next(self) -> None:
        session = self.session
        if not self.queue or session is None:
            self.token, self.key = None, None
            self._done()
            return
        self.key = self.queue.pop(0)
        self.token = next(self._tokens)
        self._job.emit(self.token, self.key, copy.deepcopy(session))

    def _done(self) -> None:
        self.counts["seconds"] = round(time.perf_counter() - self._started, 2)
        counts = self.counts
        state = "stopped" if counts.get("cancelled") else "done"
        self.notifier.notify(f"refine all {state}: {counts.get('refined', 0)} refined, {counts.get('stored', 0)} "
                             f"already stored, {counts.get('failed', 0)} failed ({counts['seconds']:.0f} s)",
                             Level.ERROR if counts.get("failed") else Level.INFO)
        self.runningChanged.emit(False)
        self.finished.emit(dict(counts))

    # ---------------------------------------------------------------- answers of the batch worker
    def _ours(self, token: int) -> bool:
        return token == self.token

    def _on_progress(self, token: int, key: str, stage: str, fraction: float) -> None:
        if self._ours(token):
            self.file_panel.set_note(key, f"{STAGES.get(stage, stage)} {100 * fraction:.0f}%")

    def _on_stored(self, token: int, key: str, stored: StoredImage) -> None:
        if not self._ours(token):
            return
        self.counts["refined" if stored.refined else "stored"] += 1
        session = self.session
        record = session.records.get(key) if session is self.reviewer.state.session else None
        if record is not None and record.state in (ImageState.NOT_RUN, ImageState.REFINED, ImageState.ERROR):
            record.state, record.error = ImageState.REFINED, None
            record.changed_fraction = stored.changed_fraction
            record.risk = stored.risk
            record.baseline_kept = stored.baseline_kept
            self._save_session()
        for notice in stored.notices:
            self.notifier.notify(notice, Level.WARNING)
        self.file_panel.set_note(key, "")
        self.reviewer.recordChanged.emit(key)
        self._next()

    def _on_failed(self, token: int, key: str, message: str) -> None:
        if not self._ours(token):
            return
        self.counts["failed"] += 1
        session = self.session
        if session is self.reviewer.state.session and key in session.records:
            session.mark_error(key, message)
            self._save_session()
        self.file_panel.set_note(key, "")
        self.reviewer.recordChanged.emit(key)
        self.notifier.notify(f"{key}: {message}", Level.ERROR, topic=image_topic(key))  # goes with another image
        self._next()

    def _on_cancelled(self, token: int, key: str) -> None:
        if not self._ours(token):
            return
        self.file_panel.set_note(key, "")
        self.token, self.key = None, None
        if self.queue:  # cancelled from outside (the window closing): stop here
            self.stop()
        else:
            self._done()

    def _save_session(self) -> None:
        session = self.session
        self.reviewer.wait_for_background_save()
        try:
            session.save()
        except OSError as problem:
            self.notifier.notify(f"session not saved: {problem}", Level.ERROR)

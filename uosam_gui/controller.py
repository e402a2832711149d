"""GUI-thread side of the worker: tokens, the document cache, prefetch and stale-result dropping."""

from __future__ import annotations

import copy
import itertools
from collections import OrderedDict
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QObject, QThread, Signal

from uosam_core import allocator
from uosam_core.config import RefineConfig
from uosam_core.options import RefineSettings
from uosam_core.pipeline import Refiner
from uosam_core.result import ObjectPrompts

from .document import ImageDocument, take_composition
from .session import Session
from .worker import RefineWorker, SharedModel


class RefineController(QObject):
    """Sends jobs to the worker thread and passes on only the answers still wanted."""

    documentReady = Signal(str, object)  # key, ImageDocument (also for prefetched images)
    progress = Signal(str, str, float)  # key, stage, fraction (of the running, wanted job)
    failed = Signal(str, str)  # key ("" for the model), message
    cancelled = Signal(str)  # key: a refinement stopped (Esc, Cancel, other settings) and none of it runs on
    redecoded = Signal(str, int, float)  # key, object index, seconds in the worker
    preparing = Signal(str, str)  # key, what an edit of it waits for ("loading the model", "encoding")
    modelReady = Signal(str)
    busyChanged = Signal(bool)
    exportProgress = Signal(int, int, str)
    exportFinished = Signal(object, str)

    _refine = Signal(int, str, object)
    _redecode = Signal(int, str, int, object, object, object, object)
    _export = Signal(int, object, object, str, object)
    _load = Signal()
    _encode_ahead = Signal(int, str, object)

    def __init__(self, model_type: str | None = None, checkpoint: Path | None = None, device: str = "auto",
                 config: RefineConfig | None = None, cache_size: int = 12) -> None:
        super().__init__()
        allocator.keep_freed_memory()  # before the worker threads exist: they share the configured heap
        self.model = SharedModel(model_type, checkpoint, device, config)
        self.threads: list[QThread] = []
        self.workers: list[RefineWorker] = []
        self.worker = self._start_worker("uosam-background")  # refine, prefetch
        # the model loads on its own thread, so a stored result is shown while it loads (worker.refine)
        self.loader = self._start_worker("uosam-model")
        self.interactive_worker = self._start_worker("uosam-interactive")  # re-decoding edited objects
        self.batch_worker = self._start_worker("uosam-batch")  # Refine all and export, at the lowest priority
        self._refine.connect(self.worker.refine)
        self._export.connect(self.batch_worker.export)
        self._load.connect(self.loader.load_model)
        self._redecode.connect(self.interactive_worker.redecode)
        self._encode_ahead.connect(self.worker.encode_ahead)
        self.interactive_worker.preparing.connect(self._on_preparing)
        self._encoding_ahead: tuple[str, int] | None = None  # key, token of the last encode-ahead job
        self._tokens = itertools.count(1)
        self.documents: OrderedDict[str, ImageDocument] = OrderedDict()
        self.cache_size = cache_size
        self.in_flight: dict[int, str] = {}  # refine token -> key
        self._cancelled: set[int] = set()
        self.wanted_key: str | None = None
        self._redecode_tokens: dict[tuple[str, int], int] = {}
        self._redecode_revisions: dict[int, int] = {}  # redecode token -> document revision when asked
        self._replacing: set[int] = set()  # refine tokens whose document replaces the cached one (rerun)
        self.rejudged: list[ImageDocument] = []  # the documents the last configure() judged with new check bars
        self._stale: set[int] = set()  # refine tokens asked with settings changed since: their documents go
        self.pinned: set[str] = set()  # keys whose documents hold edits not yet written: never evicted
        self.last_redecode_seconds = 0.0

    def _start_worker(self, name: str) -> RefineWorker:
        thread = QThread()
        thread.setObjectName(name)
        worker = RefineWorker(self.model)
        worker.moveToThread(thread)
        worker.documentReady.connect(self._on_document)
        worker.progress.connect(self._on_progress)
        worker.failed.connect(self._on_failed)
        worker.cancelled.connect(self._on_cancelled)
        worker.redecoded.connect(self._on_redecoded)
        worker.modelReady.connect(self.modelReady)
        worker.exportProgress.connect(self.exportProgress)
        worker.exportFinished.connect(self.exportFinished)
        thread.start()
        self.threads.append(thread)
        self.workers.append(worker)
        return worker

    # ---------------------------------------------------------------- requests
    def load_model(self) -> None:
        """Start loading the model in the background."""
        self._load.emit()

    @property
    def settings(self) -> RefineSettings:
        """The model and refinement settings new jobs use."""
        model = self.model
        return RefineSettings(model.model_type, model.checkpoint, model.device, model.config)

    def configure(self, settings: RefineSettings) -> bool:
        """Use ``settings`` from the next job on: running refinements are cancelled, cached documents made
        with other settings are dropped (not the shown or pinned ones), and another model is loaded in the
        background when the model changed. Returns whether a model is loaded anew."""
        old, previous = self.model, self.settings
        if settings == previous:
            return False
        reload = settings.model_key != previous.model_key
        new = SharedModel(settings.model_type, settings.checkpoint, settings.device, settings.config)
        if not reload and old.refiner is not None:
            new.refiner = Refiner(old.refiner.engine, settings.config)  # same engine, other options
        self._stale.update(self.in_flight)  # a document they still deliver was made with the old settings
        self.cancel()
        self.model = new
        for worker in self.workers:
            worker.model = new
        self.rejudged = []
        if new.refiner is not None:  # only the check's bars changed: open documents are judged again, no SAM
            bars = settings.config.precision
            self.rejudged = [document for document in self.documents.values()
                             if replace(document.refiner.config, precision=bars) == settings.config]
            for document in self.rejudged:
                document.rejudge(new.refiner)
        kept = {document.key for document in self.rejudged} | self.pinned | {self.wanted_key}
        for key in [k for k in self.documents if k not in kept]:
            del self.documents[key]
        if reload:
            self.load_model()
        return reload

    @property
    def busy(self) -> bool:
        """Whether a refinement is queued or running."""
        return bool(self.in_flight)

    def show(self, key: str, session: Session) -> ImageDocument | None:
        """Ask for an image: returns its document when cached, else starts (or keeps) its refinement
        and cancels refinements of other images."""
        self.wanted_key = key
        if self._encoding_ahead is not None and self._encoding_ahead[0] != key:
            self.worker.cancel(self._encoding_ahead[1])  # the image it was for is no longer shown
            self._encoding_ahead = None
        if key in self.documents:
            self.documents.move_to_end(key)
            return self.documents[key]
        for token, other in list(self.in_flight.items()):
            if other != key:
                self._cancel(token)
        if not any(other == key and token not in self._cancelled for token, other in self.in_flight.items()):
            self._start(key, session)
        return None

    def prefetch(self, key: str, session: Session) -> None:
        """Refine an image ahead (while the user reviews another) unless cached or running."""
        if key not in self.documents and not any(
                other == key and token not in self._cancelled for token, other in self.in_flight.items()):
            self._start(key, session)

    def rerun(self, key: str, session: Session) -> None:
        """Refine ``key`` again; its cached document stays until the new one arrives (and stays for
        good when the run is cancelled)."""
        self.wanted_key = key
        for token in list(self.in_flight):
            self._cancel(token)
        self._replacing.add(self._start(key, session, fresh=True))

    def _start(self, key: str, session: Session, fresh: bool = False) -> int:
        token = next(self._tokens)
        self.in_flight[token] = key
        self.busyChanged.emit(True)
        snapshot = copy.deepcopy(session)
        snapshot.fresh_keys = {key} if fresh else set()  # fresh: refine even when a stored result matches
        self._refine.emit(token, key, snapshot)
        return token

    def _cancel(self, token: int) -> None:
        self._cancelled.add(token)
        self.worker.cancel(token)

    def cancel(self) -> None:
        """Stop every refinement that is queued or running."""
        for token in list(self.in_flight):
            self._cancel(token)

    def cancel_key(self, key: str) -> None:
        """Stop the refinements of one image (a look-ahead of another image goes on)."""
        for token, other in list(self.in_flight.items()):
            if other == key:
                self._cancel(token)

    def encode_ahead(self, document: ImageDocument) -> None:
        """Compute the shown image's embedding in the background (once the model is loaded), after the jobs
        already queued, so its first prompt edit is fast; a later call for another image replaces it."""
        if self.model.refiner is None:
            return  # asked again when the model is ready
        if self._encoding_ahead is not None:
            self.worker.cancel(self._encoding_ahead[1])
        token = next(self._tokens)
        self._encoding_ahead = (document.key, token)
        self._encode_ahead.emit(token, document.key, document.image)

    def redecode(self, document: ImageDocument, index: int, prompts: ObjectPrompts) -> None:
        """Decode one object again; a newer request for the same object supersedes an older one."""
        if self._encoding_ahead is not None and self._encoding_ahead[0] == document.key:
            self.worker.cancel(self._encoding_ahead[1])  # the edit encodes the image itself if need be
            self._encoding_ahead = None
        token = next(self._tokens)
        superseded = self._redecode_tokens.get((document.key, index))
        if superseded is not None:
            self.interactive_worker.cancel(superseded)
        self._redecode_tokens[(document.key, index)] = token
        self._redecode_revisions[token] = document.revision
        self._redecode.emit(token, document.key, index, document.objects[index], prompts, document.image,
                            shadow_of(document))

    def export(self, session: Session, target: Path, unreviewed: str) -> int:
        """Start an export; returns its token (for :meth:`cancel_export`)."""
        token = next(self._tokens)
        self._export.emit(token, copy.deepcopy(session), Path(target), unreviewed, dict(self.documents))
        return token

    def cancel_export(self, token: int) -> None:
        """Stop an export (inside a refinement it needs, at its next step)."""
        self.batch_worker.cancel(token)

    def shutdown(self) -> None:
        """Cancel everything and stop the thread (waits for the running step to end)."""
        self.cancel()
        self.batch_worker.cancel_all()
        for thread in self.threads:
            thread.quit()
        for thread in self.threads:
            thread.wait()

    # ---------------------------------------------------------------- answers
    def _finish(self, token: int) -> None:
        self.in_flight.pop(token, None)
        self._cancelled.discard(token)
        self._stale.discard(token)
        self._replacing.discard(token)
        if not self.in_flight:
            self.busyChanged.emit(False)

    def _on_document(self, token: int, key: str, document: ImageDocument) -> None:
        replacing = token in self._replacing and token not in self._cancelled
        stale = token in self._stale
        self._finish(token)
        if stale and not self.refining(key):  # made with the old settings: as if it had stopped in time
            self.cancelled.emit(key)
        if stale or key in self.documents and not replacing:  # old settings, or a fresher copy is here
            return
        self.documents[key] = document
        self.documents.move_to_end(key)
        keep = {self.wanted_key, *self.pinned}
        for oldest in [k for k in self.documents if k not in keep][:max(0, len(self.documents) - self.cache_size)]:
            self.documents.pop(oldest)
        self.documentReady.emit(key, document)

    def _on_progress(self, token: int, key: str, stage: str, fraction: float) -> None:
        if token in self.in_flight and token not in self._cancelled:
            self.progress.emit(key, stage, fraction)

    def _on_failed(self, token: int, key: str, message: str) -> None:
        if token in self.in_flight or token == 0:
            self._finish(token)
            self.failed.emit(key, message)
        elif self._redecode_tokens.get(self._redecode_key(token)) == token:
            self.failed.emit(key, message)

    def _on_cancelled(self, token: int, key: str) -> None:
        wanted = token in self.in_flight
        self._finish(token)
        if wanted and not self.refining(key):
            self.cancelled.emit(key)

    def refining(self, key: str) -> bool:
        """Whether a refinement of ``key`` is queued or running and not cancelled."""
        return any(other == key and token not in self._cancelled for token, other in self.in_flight.items())

    def _redecode_key(self, token: int) -> tuple[str, int] | None:
        for pair, wanted in self._redecode_tokens.items():
            if wanted == token:
                return pair
        return None

    def _on_preparing(self, token: int, key: str, stage: str) -> None:
        if self._redecode_tokens.get(self._redecode_key(token) or ("", -1)) == token:
            self.preparing.emit(key, stage)

    def _on_redecoded(self, token: int, key: str, index: int, new_object, seconds: float, shadow) -> None:
        revision = self._redecode_revisions.pop(token, None)
        if self._redecode_tokens.get((key, index)) != token:
            return  # superseded by a newer edit of the same object
        del self._redecode_tokens[(key, index)]
        document = self.documents.get(key)
        if document is None:
            return
        if shadow is not None and revision == document.revision:
            apply_composed(document, index, new_object, shadow)
        else:  # the document changed meanwhile: compose here
            document.apply_redecoded(index, new_object)
        self.last_redecode_seconds = seconds
        self.redecoded.emit(key, index, seconds)


def shadow_of(document: ImageDocument) -> ImageDocument:
    """A shallow copy of ``document`` for the worker: it shares the (read-only) arrays but has its own
    object list and history, so applying a change to it composes new labels and leaves ``document`` alone."""
    shadow = copy.copy(document)
    shadow.result = replace(document.result, objects=list(document.objects))
    shadow.undo_stack, shadow.redo_stack = [], []
    return shadow


def apply_composed(document: ImageDocument, index: int, new_object, shadow: ImageDocument) -> None:
    """Apply a re-decoded object with the composition the worker already made on ``shadow`` (the same
    change on the same revision), so the GUI thread does not compose a large image again."""
    composed = shadow.result

    def take_composed() -> None:
        take_composition(document.result, composed)

    document.recompose = take_composed  # the one composition of this change, made in the worker
    try:
        document.apply_redecoded(index, new_object)
    finally:
        del document.recompose

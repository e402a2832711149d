"""The workers: refinement, re-decoding and export on QThreads, sharing one loaded engine.

Three workers run side by side: a background one (model load, refinement of the shown and the next
image), an interactive one (re-decoding an edited object) and a batch one (Refine all, export). While
an interactive job runs, the others wait at their next step, so a prompt edit is not queued behind a
whole refinement; while the shown (or next) image refines, the batch waits too. The window talks to
them only through queued signals and the thread-safe
:meth:`RefineWorker.cancel`; every job carries a token, and answers no longer wanted are dropped.
"""

from __future__ import annotations

import contextlib
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot

from uosam_core import weights
from uosam_core.config import RefineConfig
from uosam_core.engine import SamEngine, image_key
from uosam_core.lro import redecode_object
from uosam_core.pipeline import Cancelled, Refiner
from uosam_core.weights import CheckpointError

from .session import Session


class NeedsModel(RuntimeError):
    """A job needs the loaded model (encoding, decoding), not only its identity."""


class ModelIdentity:
    """What a stored result's key needs of an engine (model id, checkpoint hash), known without loading
    the model; any other use raises :class:`NeedsModel` (the job then waits for the real engine)."""

    def __init__(self, model_type: str, checkpoint_sha256: str) -> None:
        self.model_type, self.checkpoint_sha256 = model_type, checkpoint_sha256
        self.model_id = f"{model_type}-{checkpoint_sha256[:12]}"  # as SamEngine.load names it

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        raise NeedsModel(name)


def model_identity(model_type: str | None, checkpoint: Path | None) -> ModelIdentity | None:
    """The identity of the model :meth:`SamEngine.load` would load, from the checkpoint's hash only (no
    state dict read, nothing fetched); None when only loading can tell (an unknown file, a missing one)."""
    try:
        if checkpoint is not None:
            checked = weights.check_file(Path(checkpoint), model_type)
            kind = model_type or checked.known_type
        else:
            kind = model_type or weights.DEFAULT_MODEL_TYPE
            if kind not in weights.KNOWN_CHECKPOINTS or not weights.cached_path(kind).is_file():
                return None
            weights.verify(weights.cached_path(kind), kind)
            checked = weights.CheckedFile(weights.cached_path(kind), weights.known(kind).sha256, kind)
    except (CheckpointError, OSError, ValueError):
        return None
    return ModelIdentity(kind, checked.sha256) if kind else None


class SharedModel:
    """One Refiner loaded once for all workers (thread-safe), and the interactive-first rule."""

    def __init__(self, model_type: str | None, checkpoint: Path | None, device: str,
                 config: RefineConfig | None = None) -> None:
        self.model_type, self.checkpoint, self.device = model_type, checkpoint, device
        self.config = config or RefineConfig()
        self.refiner: Refiner | None = None
        self._lock = threading.Lock()
        self._identity_lock = threading.Lock()
        self._identity: ModelIdentity | None = None
        self._identity_known = False
        self._interactive_jobs = 0
        self._interactive_idle = threading.Condition()
        self._last_interactive = float("-inf")
        self._foreground_jobs = 0
        self._last_foreground = float("-inf")

    def get(self) -> tuple[Refiner, bool]:
        """The refiner, loading it on first use; the flag says whether this call loaded it."""
        with self._lock:
            if self.refiner is not None:
                return self.refiner, False
            engine = SamEngine.load(self.model_type, self.checkpoint, device=self.device)
            self.refiner = Refiner(engine, self.config)
            return self.refiner, True

    def stand_in(self) -> Refiner | None:
        """A Refiner on the model's identity instead of its engine, for showing a stored result before the
        model has loaded (recompose needs no engine); None when the identity is not known without loading."""
        with self._identity_lock:
            if not self._identity_known:
                self._identity, self._identity_known = model_identity(self.model_type, self.checkpoint), True
        return Refiner(self._identity, self.config) if self._identity is not None else None

    @contextlib.contextmanager
    def interactive(self):
        """Mark an interactive job as running (background steps wait for it)."""
        with self._interactive_idle:
            self._interactive_jobs += 1
        try:
            yield
        finally:
            with self._interactive_idle:
                self._interactive_jobs -= 1
                self._last_interactive = time.monotonic()
                self._interactive_idle.notify_all()

    @contextlib.contextmanager
    def foreground(self):
        """Mark a refinement the user waits for (the shown or next image) as running: batch steps wait."""
        with self._interactive_idle:
            self._foreground_jobs += 1
        try:
            yield
        finally:
            with self._interactive_idle:
                self._foreground_jobs -= 1
                self._last_foreground = time.monotonic()
                self._interactive_idle.notify_all()

    def yield_to_foreground(self, check: Callable[[], None] = lambda: None, hold: float = 1.0) -> None:
        """Block a batch step while a foreground refinement runs and for ``hold`` seconds after the last
        one (the window then asks for the next image ahead); ``check`` (which may raise to cancel) is
        called every 50 ms meanwhile."""
        while True:
            with self._interactive_idle:
                quiet = time.monotonic() - self._last_foreground
                if not self._foreground_jobs and quiet >= hold:
                    return
                self._interactive_idle.wait(timeout=0.05)
            check()

    def yield_to_interactive(self, hold: float = 1.5, timeout: float = 10.0) -> None:
        """Block a background step while an interactive job runs and for ``hold`` seconds after the
        last one (the user is likely to edit again), at most ``timeout`` seconds in all."""
        deadline = time.monotonic() + timeout
        with self._interactive_idle:
            while time.monotonic() < deadline:
                if self._interactive_jobs:
                    self._interactive_idle.wait(timeout=0.05)
                    continue
                quiet = time.monotonic() - self._last_interactive
                if quiet >= hold:
                    return
                self._interactive_idle.wait(timeout=min(hold - quiet, 0.05))


def describe(problem: BaseException) -> str:
    """One line for the user: the message of our own errors, the type and message of others."""
    if isinstance(problem, (ValueError, CheckpointError, OSError)):
        return str(problem).splitlines()[0] if str(problem) else type(problem).__name__
    return f"{type(problem).__name__}: {problem}"


class RefineWorker(QObject):
    """Runs refinement jobs one at a time on the thread it was moved to."""

    modelReady = Signal(str)  # model id
    progress = Signal(int, str, str, float)  # token, key, stage, fraction
    documentReady = Signal(int, str, object)  # token, key, ImageDocument
    # token, key, object index, ObjectResult, seconds, shadow document with the change composed (or None)
    redecoded = Signal(int, str, int, object, float, object)
    failed = Signal(int, str, str)  # token, key ("" for the model), one-line message
    cancelled = Signal(int, str)  # token, key
    exportProgress = Signal(int, int, str)  # done, total, key
    exportFinished = Signal(object, str)  # log dict (or None), error message ("" when fine)
    stored = Signal(int, str, object)  # token, key, StoredImage (Refine all)
    preparing = Signal(int, str, str)  # token, key, what an edit waits for: "loading the model", "encoding"

    def __init__(self, model: SharedModel) -> None:
        super().__init__()
        self.model = model
        self._lock = threading.Lock()
        self._cancelled: set[int] = set()
        self._cancel_all = False

    # ---------------------------------------------------------------- called from the GUI thread
    def cancel(self, token: int) -> None:
        """Ask a queued or running job to stop at its next step (thread-safe)."""
        with self._lock:
            self._cancelled.add(token)

    def cancel_all(self) -> None:
        """Stop every job queued or running now (thread-safe; used when the window closes)."""
        with self._lock:
            self._cancel_all = True

    def _check(self, token: int) -> None:
        with self._lock:
            if token in self._cancelled or self._cancel_all:
                raise Cancelled()

    # ---------------------------------------------------------------- jobs (worker thread)
    def _ensure_model(self) -> Refiner:
        refiner, loaded = self.model.get()
        if loaded:
            self.modelReady.emit(refiner.engine.model_id)
        return refiner

    @Slot()
    def load_model(self) -> None:
        """Load the model now (otherwise the first job does)."""
        try:
            self._ensure_model()
        except Exception as problem:  # noqa: BLE001 - reported to the user, the app goes on
            self.failed.emit(0, "", f"model not loaded: {describe(problem)}")

    @Slot(int, str, object)
    def refine(self, token: int, key: str, session: Session) -> None:
        """Refine one image of ``session`` (a snapshot) and re-apply its record. A stored result is shown
        without waiting for the model (see :meth:`_open_stored`)."""
        try:
            self._check(token)
            document = self._open_stored(key, session)
            if document is not None:
                self.documentReady.emit(token, key, document)
                return
            self.progress.emit(token, key, "model", 0.0)
            with self.model.foreground():  # from the model load on: the batch waits
                refiner = self._ensure_model()

                def pause() -> None:
                    self.model.yield_to_interactive()
                    self._check(token)

                def report(stage: str, fraction: float) -> None:
                    pause()
                    self.progress.emit(token, key, stage, fraction)

                with refiner.engine.pause_points(pause):
                    document = session.open_document(key, refiner, progress=report)
            self.documentReady.emit(token, key, document)
        except Cancelled:
            self.cancelled.emit(token, key)
        except Exception as problem:  # noqa: BLE001 - reported to the user, the app goes on
            if not isinstance(problem, (ValueError, OSError)):
                traceback.print_exc()  # an internal error: keep the trace for a bug report
            self.failed.emit(token, key, describe(problem))
        finally:
            with self._lock:
                self._cancelled.discard(token)

    def _open_stored(self, key: str, session: Session):
        """The image's document from its stored result while the model is not loaded yet (no engine needed);
        None when the model is loaded, or when the image needs the engine (no matching stored result,
        edited prompts to decode again): the caller then waits for the model."""
        if self.model.refiner is not None or key in session.fresh_keys:
            return None
        stand_in = self.model.stand_in()
        if stand_in is None:
            return None
        try:
            return session.open_document(key, stand_in)
        except NeedsModel:
            return None

    @Slot(int, str, object)
    def refine_to_store(self, token: int, key: str, session: Session) -> None:
        """Refine all: make sure one image's result is stored (refined only when it is not), at the lowest
        priority (waits for interactive and foreground work); answers with :attr:`stored`."""
        from .refine_all_job import refine_into_store

        try:
            self._check(token)
            refiner = self._ensure_model()

            def pause() -> None:
                self.model.yield_to_interactive()
                self.model.yield_to_foreground(lambda: self._check(token))
                self._check(token)

            def report(stage: str, fraction: float) -> None:
                pause()
                self.progress.emit(token, key, stage, fraction)

            pause()
            with refiner.engine.pause_points(pause):
                stored = refine_into_store(session, key, refiner, progress=report, wait=lambda: self._check(token))
            self.stored.emit(token, key, stored)
        except Cancelled:
            self.cancelled.emit(token, key)
        except Exception as problem:  # noqa: BLE001 - reported to the user, the batch goes on
            if not isinstance(problem, (ValueError, OSError)):
                traceback.print_exc()
            self.failed.emit(token, key, describe(problem))
        finally:
            with self._lock:
                self._cancelled.discard(token)

    @Slot(int, str, object)
    def encode_ahead(self, token: int, key: str, image) -> None:
        """Compute the shown image's embedding (HxWx3 uint8) ahead, so its first prompt edit is as fast as the
        later ones (a stored result is shown without encoding). Lowest priority: only with the model loaded,
        after the jobs queued before it, pausing while the user edits; an edit of the image cancels it."""
        try:
            refiner = self.model.refiner
            if refiner is None:
                return

            def pause() -> None:
                self.model.yield_to_interactive()
                self._check(token)

            pause()
            with refiner.engine.pause_points(pause):
                refiner.engine.encode(image)
        except Cancelled:
            pass
        except Exception:  # noqa: BLE001 - only a head start: the edit encodes (and reports) by itself
            traceback.print_exc()
        finally:
            with self._lock:
                self._cancelled.discard(token)

    @Slot(int, str, int, object, object, object, object)
    def redecode(self, token: int, key: str, index: int, obj, prompts, image, shadow) -> None:
        """Decode one object again from edited prompts (the embedding is cached), and compose the labels
        with it on ``shadow`` (a shallow copy of the document, see RefineController.redecode) so the GUI
        thread does not have to."""
        try:
            self._check(token)
            if self.model.refiner is None:
                self.preparing.emit(token, key, "loading the model")  # a stored result is shown before it loads
            refiner = self._ensure_model()
            start = time.perf_counter()
            with self.model.interactive():
                engine = refiner.engine
                if engine.cache.get(image_key(image, engine.model_id)) is None:
                    self.preparing.emit(token, key, "encoding")  # the first edit of an image not encoded yet
                embedding = engine.encode(image)
                new_object = redecode_object(refiner.engine, embedding, obj, prompts, refiner.config.lro)
                self._check(token)
                if shadow is not None:
                    shadow.apply_redecoded(index, new_object)
            self.redecoded.emit(token, key, index, new_object, time.perf_counter() - start, shadow)
        except Cancelled:
            self.cancelled.emit(token, key)
        except Exception as problem:  # noqa: BLE001
            self.failed.emit(token, key, describe(problem))
        finally:
            with self._lock:
                self._cancelled.discard(token)

    @Slot(int, object, object, str, object)
    def export(self, token: int, session: Session, target: Path, unreviewed: str, documents: dict) -> None:
        """Write the cleaned label folder (see :func:`uosam_gui.export.export_folder`)."""
        from .export import export_folder

        try:
            refiner = self._ensure_model()

            def cancelled() -> bool:
                with self._lock:
                    return token in self._cancelled or self._cancel_all

            def pause(stage: str = "", fraction: float = 0.0) -> None:  # inside a refinement the export needs
                self.model.yield_to_interactive()
                self.model.yield_to_foreground(lambda: self._check(token))
                self._check(token)

            with refiner.engine.pause_points(pause):
                log = export_folder(session, refiner, target, unreviewed=unreviewed, documents=documents,
                                    progress=self.exportProgress.emit, cancelled=cancelled, refine_progress=pause)
            self.exportFinished.emit(log, "")
        except Exception as problem:  # noqa: BLE001
            self.exportFinished.emit(None, describe(problem))
        finally:
            with self._lock:
                self._cancelled.discard(token)

"""The review workflow around the state: open a data set, show images (a preview while they refine),
save, and keep edits in memory when they cannot be written. Dialogs go through two hooks
(:attr:`Reviewer.ask_folder`, :attr:`Reviewer.confirm`) that tests answer.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QSettings, QTimer, Signal
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from uosam_core.image_io import InputError, read_image, read_labels

from . import session as session_module
from .classes import ClassTable
from .controller import RefineController
from .document import ImageDocument
from .notifications import Level, Notifier, image_topic
from .recent import RecentList
from .review_state import Preview, ReviewState
from .session import ImageState, Session


def _writable_problem(out: Path) -> str | None:
    check = getattr(session_module, "writable_problem", None)
    return check(out) if check is not None else None

SAVE_TOPIC = "save"  # standing errors about writes to OUT; a write that works again takes them down


class Reviewer(QObject):
    """Opens, shows and saves; every change goes through the :class:`ReviewState`."""

    recordChanged = Signal(str)  # an image's record (state, changed share) changed
    savedInBackground = Signal(str, str)  # key, problem ("" when written)

    def __init__(self, state: ReviewState, controller: RefineController, notifier: Notifier,
                 settings: QSettings, parent_widget: QWidget) -> None:
        super().__init__(parent_widget)
        self.state, self.controller, self.notifier = state, controller, notifier
        self.recent = RecentList(settings)
        self.parent_widget = parent_widget
        self.unsaved: dict[str, str] = {}  # key -> why its edits are only in memory
        self.ask_folder: Callable[[str], Path | None] = self._ask_folder_dialog
        self.confirm: Callable[[str], bool] = self._confirm_dialog
        self.visible_keys: Callable[[], list[str]] = lambda: list(self.state.session.records)  # list order
        self.autosave_timer = QTimer(self, singleShot=True, interval=400)
        self.autosave_timer.timeout.connect(self._autosave_in_background)
        self._saver: threading.Thread | None = None  # the background autosave, when one runs
        self.savedInBackground.connect(self._after_save)
        controller.documentReady.connect(self._on_document_ready)
        controller.failed.connect(self._on_failed)
        controller.cancelled.connect(self._on_cancelled)

    # ---------------------------------------------------------------- dialogs (hooks)
    def _ask_folder_dialog(self, problem: str) -> Path | None:
        answer = QMessageBox.question(self.parent_widget, "Output folder not writable",
                                      f"{problem}\n\nChoose another output folder?")
        if answer != QMessageBox.StandardButton.Yes:
            return None
        chosen = QFileDialog.getExistingDirectory(self.parent_widget, "Output folder (refined labels and session)")
        return Path(chosen) if chosen else None

    def _confirm_dialog(self, question: str) -> bool:
        answer = QMessageBox.question(self.parent_widget, "uosam", question)
        return answer == QMessageBox.StandardButton.Yes

    # ---------------------------------------------------------------- data set
    def open_dataset(self, images: Path, labels: Path, out: Path, classes_file: Path | None = None,
                     label_encoding: str = "ids") -> bool:
        """Open (or resume) a session; False (and said why) when the folders are unusable."""
        problem = _writable_problem(Path(out))
        while problem is not None:
            self.notifier.notify(problem, Level.ERROR)
            chosen = self.ask_folder(problem)
            if chosen is None:
                break  # open all the same: changes stay in memory (said in a standing banner below)
            out, problem = chosen, _writable_problem(chosen)
        try:
            session = Session.open(images, labels, out, label_encoding=label_encoding,
                                   require_writable=problem is None)
            if problem is None:
                session.save()
        except (InputError, OSError) as failure:
            self.notifier.notify(str(failure), Level.ERROR)
            return False
        self.leave_document()
        palette = None
        first_label = next((r.label for r in session.records.values() if r.label), None)
        if first_label and label_encoding == "ids":
            try:
                palette = read_labels(first_label)[1].palette
            except InputError:
                palette = None
        classes = ClassTable.discover(session.labels, classes_file=classes_file, label_palette=palette,
                                      ignore_ids=self.controller.model.config.ignore_ids)
        self.unsaved.clear()
        self.state.set_session(session, classes)
        self.recent.add(session.path)
        self.notifier.notify(f"opened {len(session.records)} images; output and session in {session.out}")
        for notice in getattr(session, "notices", []):
            self.notifier.notify(notice, Level.WARNING)
        if problem is not None:
            self.notifier.notify(f"{problem}: nothing can be saved; changes are kept in memory only until the "
                                 "app closes (File > Open with another output folder to keep them)", Level.ERROR,
                                 topic=SAVE_TOPIC)
        first = session.current or next((k for k, r in session.records.items() if r.state != "error"), None)
        if first:
            self.show_image(first)
        return True

    def open_session_file(self, path: Path) -> bool:
        """Resume a session from its file."""
        try:
            stored = Session.load(path)
        except InputError as problem:
            self.notifier.notify(str(problem), Level.ERROR)
            return False
        return self.open_dataset(stored.images, stored.labels, stored.out, label_encoding=stored.label_encoding)

    # ---------------------------------------------------------------- images
    def leave_document(self) -> None:
        """Record the shown document's state (and retry edits not yet written) before showing another."""
        if self.state.session is not None and (self.state.document is not None or self.unsaved):
            self.autosave()

    def show_image(self, key: str) -> None:
        """Show an image: at once when refined (or prefetched), else its photo and baseline while it refines."""
        session = self.state.session
        if session is None or key not in session.records:
            return
        self.leave_document()
        session.current = key
        self.notifier.resolve_images_but(key)
        record = session.records[key]
        if record.image is None or record.label is None:
            self.state.show(None)
            self.notifier.notify(f"{key}: {record.error}", Level.ERROR, topic=image_topic(key))
            return
        document = self.controller.show(key, session)
        if document is not None:
            self._display(document)
            return
        self.state.show(None, self._preview(key))
        self.notifier.notify(f"refining {key} ...")

    def _preview(self, key: str) -> Preview | None:
        """The photo and its baseline while the image refines; the photo alone (no overlay: ids -1 are
        transparent) when its labels cannot be read or do not fit; None without a readable photo. The
        refinement reports the problem."""
        record = self.state.session.records[key]
        try:
            image = read_image(record.image)
        except (InputError, OSError, ValueError):
            return None
        try:
            baseline, _ = read_labels(record.label, encoding=self.state.session.label_encoding)
        except (InputError, OSError, ValueError):
            baseline = None
        if baseline is None or baseline.shape != image.shape[:2]:
            baseline = np.full(image.shape[:2], -1, np.int32)
        return Preview(key, image, baseline)

    def step_image(self, step: int) -> None:
        """Go to the next (1) or previous (-1) image of the list as filtered and sorted."""
        session = self.state.session
        keys = self.visible_keys() if session is not None else []
        if not keys:
            return
        position = keys.index(session.current) if session.current in keys else -1
        self.show_image(keys[(position + step) % len(keys)])

    def rerun(self) -> None:
        """Refine the shown image again; it stays on screen until the new result arrives (Esc keeps it)."""
        session = self.state.session
        if session is not None and session.current:
            self.leave_document()
            self.controller.rerun(session.current, session)
            document = self.state.document
            kept = ("; your decisions and edits are applied to the new result"
                    if document is not None and document.key == session.current and document.is_edited else "")
            self.notifier.notify(f"refining {session.current} again ... (Esc keeps the current result){kept}")

    def cancel(self) -> None:
        """Esc: deselect, and stop refining the shown image (what is shown stays)."""
        self.state.select(-1)
        if self.state.session is not None and self.state.session.current:
            self.controller.cancel_key(self.state.session.current)

    def _display(self, document: ImageDocument) -> None:
        self.state.show(document)
        self.notifier.resolve(image_topic(document.key))  # its refinement is done: warnings about it are past
        stored = document.result.timings.get("loaded from store")  # a stored result's other timings are old
        timings = f"stored result, read in {stored:.1f}s" if stored is not None else ", ".join(
            f"{name} {seconds:.1f}s" for name, seconds in document.result.timings.items())
        accepted = sum(obj.uses_refined for obj in document.objects)
        past = "; ".join(getattr(document, "store_notices", []))  # e.g. a stale stored result, refined again
        check = document.result.precision
        kept = (f" - baseline kept ({check.brief()}): refining would not put its edges on clearly stronger image "
                "edges" if document.result.baseline_kept and check is not None else "")
        self.notifier.notify(f"{document.key}: {len(document.objects)} objects, {accepted} refined{kept}"
                             + (f" ({timings})" if timings else "") + (f" - {past}" if past else ""))
        for notice in getattr(document, "notices", []):
            self.notifier.notify(notice, Level.WARNING, topic=image_topic(document.key))
        self.controller.encode_ahead(document)  # ahead of the next image: the first edit here is fast too
        self._prefetch_next()

    def _prefetch_next(self) -> None:
        """Refine the image after the shown one (in the list's order) ahead."""
        session = self.state.session
        keys = [k for k in self.visible_keys() if session.records[k].state != "error"]
        if session.current in keys and keys.index(session.current) + 1 < len(keys):
            self.controller.prefetch(keys[keys.index(session.current) + 1], session)

    def _on_document_ready(self, key: str, document: ImageDocument) -> None:
        session = self.state.session
        if session is None or key not in session.records:
            return
        session.record_document(document)
        self.recordChanged.emit(key)
        QTimer.singleShot(0, lambda: self._display_if_wanted(key, document))  # drawing is the next turn's work

    def _display_if_wanted(self, key: str, document: ImageDocument) -> None:
        """Show a document that arrived, when it is still the image to show (and not shown yet)."""
        session, shown = self.state.session, self.state.document
        if session is not None and key == session.current and self.controller.documents.get(key) is document \
                and (shown is None or shown.key == key) and shown is not document:
            self._display(document)

    def _on_failed(self, key: str, message: str) -> None:
        session = self.state.session
        if key and session is not None and key in session.records:
            session.mark_error(key, message)
            self._write_session()
            self.recordChanged.emit(key)
        if key and session is not None and key != session.current:
            # an image refined ahead: its line in the list says "error"; the banner is for the shown image
            # (it said "05: ..." over image 04, and the user took it for the image on screen)
            self.notifier.notify(f"{key} (refined ahead, not shown) failed: {message}")
            return
        # an error about one image goes when another is shown; one about the model (no key) stays
        self.notifier.notify(f"{key}: {message}" if key else message, Level.ERROR,
                             topic=image_topic(key) if key else None)
        if key and session is not None and key == session.current:
            self.notifier.clear_status()  # no longer "refining ..." (the error stays in the banner)

    def _on_cancelled(self, key: str) -> None:
        """A refinement stopped (Esc, Cancel, a settings change): list, status bar and image agree again.
        A shown result stays with its state; an image shown as its baseline while it refined is "not run"."""
        session = self.state.session
        if session is None or key != session.current or key not in session.records:
            return
        self.notifier.resolve(image_topic(key))
        document = self.state.document
        if document is not None and document.key == key:
            self.notifier.notify(f"{key}: refinement stopped; the shown result stays")
            return
        record = session.records[key]
        if record.state == ImageState.REFINED:  # that result is not shown (and not for these settings)
            record.state, record.changed_fraction, record.risk = ImageState.NOT_RUN, None, None
            record.baseline_kept = False
            self._write_session()
            self.recordChanged.emit(key)
        self.notifier.notify(f"{key}: refinement stopped; shown: its baseline labels (not run)")

    # ---------------------------------------------------------------- saving
    def document_changed(self) -> None:
        """After an edit of the shown document: redraw (through the state) and schedule the autosave."""
        self.state.document_edited()
        self.autosave_timer.start()

    def _write_session(self) -> bool:
        self.wait_for_background_save()
        try:
            self.state.session.save()
        except OSError as problem:
            self.notifier.notify(f"session not saved: {problem}", Level.ERROR, topic=SAVE_TOPIC)
            return False
        if not self.unsaved:
            self.notifier.resolve(SAVE_TOPIC)
        return True

    def record(self, document: ImageDocument) -> bool:
        """Record a document's decisions and edits in the session and write them; on failure they stay
        in memory (the image is kept in the cache) and the user is told where they could not be saved."""
        self.wait_for_background_save()
        try:
            self.state.session.record_document(document)
            self.state.session.save()
        except OSError as problem:
            return self._after_save(document.key, str(problem))
        return self._after_save(document.key, "")

    def _after_save(self, key: str, problem: str) -> bool:
        if problem:
            self.unsaved[key] = problem
            self.controller.pinned.add(key)
            self.notifier.notify(f"{key}: edits kept in memory only, not saved: {problem}", Level.ERROR,
                                 topic=SAVE_TOPIC)
        else:
            if self.unsaved.pop(key, None) is not None:
                self.controller.pinned.discard(key)
                self.notifier.notify(f"{key}: edits saved now")
            if not self.unsaved:
                self.notifier.resolve(SAVE_TOPIC)
        self.recordChanged.emit(key)
        return not problem

    def _autosave_in_background(self) -> None:
        """The autosave after an edit: written on a thread (a large image's edits take a while to
        compress); the shown document's later changes are written by the next autosave."""
        session, document = self.state.session, self.state.document
        if session is None or document is None:
            return
        if self._saver is not None and self._saver.is_alive():
            self.autosave_timer.start()  # one save at a time: try again shortly
            return

        def save() -> None:
            try:
                session.record_document(document)
                session.save()
            except OSError as problem:
                self.savedInBackground.emit(document.key, str(problem))
            else:
                self.savedInBackground.emit(document.key, "")

        self._saver = threading.Thread(target=save, name="uosam-autosave", daemon=True)
        self._saver.start()

    def wait_for_background_save(self) -> None:
        """Let a running background autosave finish (before another write of the same files)."""
        if self._saver is not None:
            self._saver.join()
            self._saver = None

    def autosave(self) -> bool:
        """Record the shown document and every document whose edits could not be written yet."""
        self.autosave_timer.stop()
        self.wait_for_background_save()
        if self.state.session is None:
            return True
        documents = {key: self.controller.documents.get(key) for key in self.unsaved}
        if self.state.document is not None:
            documents[self.state.document.key] = self.state.document
        if not documents:
            return self._write_session()
        return all([self.record(document) for document in documents.values() if document is not None])

    def save_current(self) -> Path | None:
        """Write the shown image's final labels to the output folder."""
        document, session = self.state.document, self.state.session
        if document is None or session is None:
            return None
        try:
            target = session.save_labels(document)
        except (OSError, ValueError) as problem:
            self.notifier.notify(f"save failed, edits kept in memory: {problem}", Level.ERROR, topic=SAVE_TOPIC)
            return None
        if not self.record(document):
            return None
        self.notifier.notify(f"saved {target}")
        return target

    def may_close(self) -> bool:
        """Save what can be saved; ask before losing edits that could not be written."""
        if self.autosave() and not self.unsaved:
            return True
        where = "; ".join(f"{key}: {why}" for key, why in self.unsaved.items())
        return self.confirm(f"These edits could not be saved and will be lost:\n{where}\n\nQuit anyway?")

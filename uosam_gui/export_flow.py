"""File > Export in the window: choose the folder (a new one is created) and what unreviewed images get
(their stored refined result, their baseline, or nothing), export on the batch worker with a progress
bar in the status bar (the window stays usable), report the result.

Dialogs go through two hooks, :attr:`ExportFlow.ask_target` and :attr:`ExportFlow.ask_choice`, so
tests (and scripts) can answer them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QFileDialog, QMainWindow, QMessageBox, QProgressBar, QPushButton, QWidget

from uosam_core.result_store import ResultStore

from .controller import RefineController
from .export import LabelSource
from .notifications import Level, Notifier
from .review import Reviewer
from .session import ImageState

CHOICES = (("refined", "Refined result"), ("baseline", "Baseline"), ("skip", "Skip them"))


def choice_text(unreviewed: int, unstored: int) -> str:
    """The question before exporting unreviewed images, in singular or plural."""
    one = unreviewed == 1
    if unstored:
        waiting = (" It has no stored refined result and would be refined now." if one else
                   f" {unstored} of them {'has' if unstored == 1 else 'have'} no stored refined result and would "
                   "be refined now.")
    else:
        waiting = " It has a stored refined result." if one else " All of them have a stored refined result."
    if unreviewed:  # a stored result of other settings or another model is not used: refined now
        waiting += " A result stored with other settings than the current ones is refined again."
    what = "1 image is" if one else f"{unreviewed} images are"
    return f"{what} not reviewed. What should the export write for {'it' if one else 'them'}?{waiting}"


class ExportFlow(QObject):
    """Runs exports; ``last_log`` is the last export's log (None after a failure); ``running`` says
    whether one is under way."""

    def __init__(self, reviewer: Reviewer, controller: RefineController, notifier: Notifier,
                 parent_widget: QWidget) -> None:
        super().__init__(parent_widget)
        self.reviewer, self.controller, self.notifier = reviewer, controller, notifier
        self.parent_widget = parent_widget
        self.last_log: dict | None = None
        self.running = False
        self._token: int | None = None
        self.ask_target: Callable[[], Path | None] = self._ask_target_dialog
        self.ask_choice: Callable[[int, int], str | None] = self._ask_choice_dialog
        self.bar = QProgressBar(maximum=100)
        self.bar.setFixedWidth(260)
        self.stop_button = QPushButton("Stop export")
        for widget in (self.bar, self.stop_button):
            widget.setVisible(False)
            if isinstance(parent_widget, QMainWindow):
                parent_widget.statusBar().addPermanentWidget(widget)
        self.stop_button.clicked.connect(self.stop)
        controller.exportProgress.connect(self._on_progress)
        controller.exportFinished.connect(self._on_finished)

    # ---------------------------------------------------------------- dialogs (hooks)
    def _ask_target_dialog(self) -> Path | None:
        dialog = QFileDialog(self.parent_widget, "Export cleaned labels to (type a new name to create a folder)")
        dialog.setFileMode(QFileDialog.FileMode.AnyFile)
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setOption(QFileDialog.Option.ShowDirsOnly, True)
        if not dialog.exec() or not dialog.selectedFiles():
            return None
        return Path(dialog.selectedFiles()[0])

    def _ask_choice_dialog(self, unreviewed: int, unstored: int) -> str | None:
        box = QMessageBox(self.parent_widget)
        box.setWindowTitle("Images not reviewed")
        box.setText(choice_text(unreviewed, unstored))
        buttons = {box.addButton(text, QMessageBox.ButtonRole.AcceptRole): value for value, text in CHOICES}
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        return buttons.get(box.clickedButton())

    # ---------------------------------------------------------------- flow
    def unreviewed_counts(self) -> tuple[int, int]:
        """(images not reviewed, of them without a stored result file) - counted from the files present."""
        session = self.reviewer.state.session
        if session is None:
            return 0, 0
        store = ResultStore(session.out)
        waiting = [key for key, record in session.records.items()
                   if record.state in (ImageState.NOT_RUN, ImageState.REFINED) and not record.saved]
        return len(waiting), sum(not store.path(key).is_file() for key in waiting)

    def choose(self) -> None:
        """Ask for a folder and for what unreviewed images get, then export."""
        if self.reviewer.state.session is None:
            return
        if self.running:
            self.notifier.notify("an export is already running (Stop export in the status bar)")
            return
        target = self.ask_target()
        if not target:
            return
        unreviewed, unstored = self.unreviewed_counts()
        choice = self.ask_choice(unreviewed, unstored) if unreviewed else "refined"
        if choice is not None:
            self.export(Path(target), choice)

    def export(self, target: Path, unreviewed: str) -> None:
        """Export on the batch worker; progress in the status bar; the result arrives in :meth:`_on_finished`."""
        session = self.reviewer.state.session
        if session is None:
            return
        self.reviewer.autosave()
        self.running = True
        self.bar.setValue(0)
        self.bar.setFormat("export %p%")
        for widget in (self.bar, self.stop_button):
            widget.setVisible(True)
        self._token = self.controller.export(session, target, unreviewed)
        self.notifier.notify(f"exporting to {target} ... (you can keep reviewing)")

    def stop(self) -> None:
        """Stop the running export (the log says it is incomplete)."""
        if self._token is not None:
            self.controller.cancel_export(self._token)

    def _on_progress(self, done: int, total: int, key: str) -> None:
        self.bar.setMaximum(max(total, 1))
        self.bar.setValue(done)
        self.bar.setFormat(f"export {done} of {total}" + (f": {key}" if key else ""))

    def _note_refined(self, log: dict) -> None:
        """Images the export refined (or read from the store) show their share changed and risk in the
        list, as if opened; images the user works on keep theirs."""
        session = self.reviewer.state.session
        if session is None:
            return
        for entry in log["entries"]:
            record = session.records.get(entry["key"])
            if entry["source"] != LabelSource.REFINED or record is None or record.has_user_changes:
                continue
            record.changed_fraction, record.risk = entry["changed_fraction"], entry.get("risk")
            record.baseline_kept = bool(entry.get("baseline_kept"))
            if record.state == ImageState.NOT_RUN:
                record.state = ImageState.REFINED
            self.reviewer.recordChanged.emit(entry["key"])

    def _on_finished(self, log: dict | None, error: str) -> None:
        self.running, self._token = False, None
        for widget in (self.bar, self.stop_button):
            widget.setVisible(False)
        self.last_log = log
        if log is None:
            self.notifier.notify(f"export failed: {error}", Level.ERROR)
            return
        self._note_refined(log)
        skipped = f", {len(log['skipped'])} skipped" if log["skipped"] else ""
        left = f", {len(log['not_exported'])} unreviewed left out" if log.get("not_exported") else ""
        state = "" if log["complete"] else " (cancelled, incomplete)"
        self.notifier.notify(f"exported {len(log['entries'])} label maps{skipped}{left}{state}; "
                             "log: uosam-export-log.json", Level.ERROR if log["skipped"] else Level.INFO)

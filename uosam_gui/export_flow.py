"""File > Export in the window: choose the folder and what unreviewed images get, export in the
worker with a progress dialog, report the result."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QFileDialog, QMessageBox, QProgressDialog, QWidget

from .controller import RefineController
from .notifications import Level, Notifier
from .review import Reviewer


class ExportFlow(QObject):
    """Runs exports; ``last_log`` is the last export's log (None after a failure)."""

    def __init__(self, reviewer: Reviewer, controller: RefineController, notifier: Notifier,
                 parent_widget: QWidget) -> None:
        super().__init__(parent_widget)
        self.reviewer, self.controller, self.notifier = reviewer, controller, notifier
        self.parent_widget = parent_widget
        self.dialog: QProgressDialog | None = None
        self.last_log: dict | None = None
        controller.exportProgress.connect(self._on_progress)
        controller.exportFinished.connect(self._on_finished)

    def choose(self) -> None:
        """Ask for a folder and for what unreviewed images get, then export."""
        if self.reviewer.state.session is None:
            return
        target = QFileDialog.getExistingDirectory(self.parent_widget, "Export cleaned labels to")
        if not target:
            return
        buttons = QMessageBox.StandardButton
        choice = QMessageBox.question(
            self.parent_widget, "Images not reviewed",
            "Images you have not reviewed: export their refined labels (Yes) or their baseline labels (No)?",
            buttons.Yes | buttons.No | buttons.Cancel)
        if choice != buttons.Cancel:
            self.export(Path(target), "refined" if choice == buttons.Yes else "baseline")

    def export(self, target: Path, unreviewed: str) -> None:
        """Export in the worker with a progress dialog; the result arrives in :meth:`_on_finished`."""
        session = self.reviewer.state.session
        if session is None:
            return
        self.reviewer.autosave()
        self.dialog = QProgressDialog("Exporting cleaned labels ...", "Cancel", 0, max(1, len(session.records)),
                                      self.parent_widget)
        self.dialog.setWindowModality(Qt.WindowModality.WindowModal)
        self.dialog.setMinimumDuration(0)
        token = self.controller.export(session, target, unreviewed)
        self.dialog.canceled.connect(lambda: self.controller.cancel_export(token))

    def _on_progress(self, done: int, total: int, key: str) -> None:
        if self.dialog is not None:
            self.dialog.setMaximum(total)
            self.dialog.setValue(done)
            self.dialog.setLabelText(f"Exporting {key} ({done + 1} of {total})" if key else "Done")

    def _on_finished(self, log: dict | None, error: str) -> None:
        if self.dialog is not None:
            self.dialog.reset()
        self.last_log = log
        if log is None:
            self.notifier.notify(f"export failed: {error}", Level.ERROR)
            return
        skipped = f", {len(log['skipped'])} skipped" if log["skipped"] else ""
        state = "" if log["complete"] else " (cancelled, incomplete)"
        self.notifier.notify(f"exported {len(log['entries'])} label maps{skipped}{state}; log: uosam-export-log.json",
                             Level.ERROR if log["skipped"] else Level.INFO)

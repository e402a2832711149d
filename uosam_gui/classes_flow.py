"""File > Load classes... and the legend's show / hide checkboxes: both change the state's class table
(:meth:`ReviewState.set_classes`); the overlay, legend, class choosers and ground-truth scores follow."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QFileDialog, QWidget

from uosam_core.image_io import InputError

from .classes import read_class_file
from .legend import Legend
from .notifications import Level, Notifier
from .review_state import ReviewState

FILE_FILTER = "Class files (*.json *.txt *.png);;classes.json (*.json);;Name list (*.txt);;Palette label PNG (*.png)"


class ClassesFlow(QObject):
    """Loads class names / colours into the open session and applies the legend's checkboxes."""

    def __init__(self, state: ReviewState, notifier: Notifier, legend: Legend, parent: QWidget) -> None:
        super().__init__(parent)
        self.state, self.notifier, self.parent_widget = state, notifier, parent
        self.ask_file: Callable[[], Path | None] = self._ask_file_dialog  # tests answer it
        # queued: the legend is rebuilt by the change, which must not happen inside its own item signal
        legend.visibilityChanged.connect(self.set_visible, Qt.ConnectionType.QueuedConnection)
        state.sessionChanged.connect(self._on_session)

    def _ask_file_dialog(self) -> Path | None:
        chosen, _ = QFileDialog.getOpenFileName(self.parent_widget, "Class names or palette", "", FILE_FILTER)
        return Path(chosen) if chosen else None

    def choose(self) -> None:
        """File > Load classes...: ask for a classes.json, a txt list of names or a palette label PNG."""
        if self.state.classes is None:
            self.notifier.notify("open a data set first, then its classes", Level.WARNING)
            return
        path = self.ask_file()
        if path is not None:
            self.load(path)

    def load(self, path: Path) -> bool:
        """Apply a classes file to the open session; False (and said why in one line) when it is no good."""
        if self.state.classes is None:
            return False
        try:
            loaded = read_class_file(Path(path))
            classes = self.state.classes.with_file(Path(path))
        except InputError as problem:
            self.notifier.notify(str(problem), Level.ERROR)
            return False
        self.state.set_classes(classes)
        parts = [f"{len(loaded.names)} class names"] if loaded.names is not None else []
        if loaded.colors is not None:
            count = min(len(loaded.colors), classes.num_classes or len(loaded.colors))  # a palette holds 256
            parts.append(f"{count} class colours")
        self.notifier.notify(f"{' and '.join(parts) or 'class settings'} loaded from {path}")
        return True

    def set_visible(self, class_id: int, shown: bool) -> None:
        """Show or hide one class on the overlay."""
        classes = self.state.classes
        if classes is not None and (class_id in classes.hidden) == shown:
            self.state.set_classes(classes.with_hidden(class_id, not shown))

    def _on_session(self) -> None:
        classes = self.state.classes
        if classes is not None and classes.notice:
            self.notifier.notify(classes.notice, Level.WARNING)

"""The file list: each image's state, a text and state filter, and sorting by how much changed."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLineEdit, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from .session import STATES, ImageRecord

STATE_COLORS = {"not run": "#9e9e9e", "refined": "#4fc3f7", "reviewed": "#81c784", "edited": "#ffb74d",
                "error": "#e57373"}
SORTS = ("name", "most changed first")


class FilePanel(QWidget):
    """List of the session's images; emits the key the user picks."""

    imageChosen = Signal(str)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.filter_edit = QLineEdit(placeholderText="filter by name")
        self.state_combo = QComboBox()
        self.state_combo.addItems(["all states", *STATES])
        self.sort_combo = QComboBox()
        self.sort_combo.addItems(list(SORTS))
        self.list = QListWidget()
        controls = QHBoxLayout()
        controls.addWidget(self.state_combo)
        controls.addWidget(self.sort_combo)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.filter_edit)
        layout.addLayout(controls)
        layout.addWidget(self.list)
        self.records: dict[str, ImageRecord] = {}
        self.items: dict[str, QListWidgetItem] = {}
        self.filter_edit.textChanged.connect(self.refresh)
        self.state_combo.currentIndexChanged.connect(self.refresh)
        self.sort_combo.currentIndexChanged.connect(self.refresh)
        self.list.currentItemChanged.connect(self._on_current)
        self._current: str | None = None

    def set_records(self, records: dict[str, ImageRecord]) -> None:
        """Show these records (the session's, kept by reference)."""
        self.records = records
        self.refresh()

    def visible_keys(self) -> list[str]:
        """Keys as listed now (after filter and sort)."""
        text = self.filter_edit.text().strip().lower()
        state = self.state_combo.currentText()
        keys = [key for key, record in self.records.items()
                if text in key.lower() and (state == "all states" or record.state == state)]
        if self.sort_combo.currentText() == "most changed first":
            keys.sort(key=lambda key: -(self.records[key].changed_fraction or 0.0))
        return keys

    def refresh(self) -> None:
        """Rebuild the list from the records (after a filter or sort change), keeping the selection."""
        self.list.blockSignals(True)
        self.list.clear()
        self.items = {}
        for key in self.visible_keys():
            item = QListWidgetItem()
            item.setData(Qt.ItemDataRole.UserRole, key)
            self.items[key] = item
            self._describe(key)
            self.list.addItem(item)
            if key == self._current:
                self.list.setCurrentItem(item)
        self.list.blockSignals(False)

    def _describe(self, key: str) -> None:
        item, record = self.items[key], self.records[key]
        changed = "" if record.changed_fraction is None else f"  {100 * record.changed_fraction:.1f}% changed"
        item.setText(f"{key}  [{record.state}]{changed}")
        item.setForeground(QColor(STATE_COLORS.get(record.state, "#ffffff")))
        item.setToolTip(record.error or "")

    def update_entry(self, key: str) -> None:
        """Redraw one image's line after its record changed (the order stays until the next sort)."""
        if key in self.items:
            self._describe(key)

    def select(self, key: str) -> None:
        """Highlight ``key`` without emitting imageChosen."""
        self._current = key
        self.list.blockSignals(True)
        if key in self.items:
            self.list.setCurrentItem(self.items[key])
        else:
            self.list.clearSelection()
        self.list.blockSignals(False)

    def _on_current(self, item: QListWidgetItem | None, _previous) -> None:
        if item is not None:
            key = item.data(Qt.ItemDataRole.UserRole)
            if key != self._current:
                self._current = key
                self.imageChosen.emit(key)

"""The file list: each image's state, a text and state filter, and sorting by how much changed.

Other parts add columns (text per key) and sort orders (ascending value per key) with
:meth:`FilePanel.set_columns` / :meth:`FilePanel.set_sorts`; the ground-truth scores do (gt_flow.py)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSizePolicy,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from .session import STATES, ImageRecord

STATE_COLORS = {"not run": "#9e9e9e", "refined": "#4fc3f7", "reviewed": "#81c784", "edited": "#ffb74d",
                "error": "#e57373"}
SORTS = ("name", "most changed first", "highest risk first")


def risk_text(risk: float) -> str:
    """An image's risk figure (share of it, 0..1) as the file list and the status bar show it: "risk 0.37%"."""
    return f"risk {100 * float(risk):.2f}%"


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
        self.list = QTreeWidget()
        self.list.setRootIsDecorated(False)
        self.list.setHeaderLabels(["image"])
        self.list.setUniformRowHeights(True)
        self.columns: list[tuple[str, Callable[[str], str]]] = []  # extra columns: header, text of a key
        self.sorts: dict[str, Callable[[str], float]] = {}  # extra sort orders: name, ascending value of a key
        controls = QHBoxLayout()
        controls.addWidget(self.state_combo)
        controls.addWidget(self.sort_combo)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        # the totals wrap onto lines of their own: read whole at any width, and they never widen the list
        self.totals_label = QLabel(wordWrap=True)
        self.totals_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.totals_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.totals_label.setVisible(False)  # set and shown by whoever sums the list (the ground truth)
        layout.addWidget(self.filter_edit)
        layout.addLayout(controls)
        layout.addWidget(self.totals_label)
        layout.addWidget(self.list)
        self.records: dict[str, ImageRecord] = {}
        self.items: dict[str, QTreeWidgetItem] = {}
        self.filter_edit.textChanged.connect(self.refresh)
        self.state_combo.currentIndexChanged.connect(self.refresh)
        self.sort_combo.currentIndexChanged.connect(self.refresh)
        self.list.currentItemChanged.connect(self._on_current)
        self._current: str | None = None
        self.notes: dict[str, str] = {}  # key -> a passing note, e.g. Refine all's "GRO 40%"

    def set_note(self, key: str, text: str) -> None:
        """Show a passing note after an image's state ("" removes it), e.g. its Refine-all progress."""
        if text:
            self.notes[key] = text
        else:
            self.notes.pop(key, None)
        self.update_entry(key)

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
        elif self.sort_combo.currentText() == "highest risk first":
            keys.sort(key=lambda key: -(self.records[key].risk or 0.0))
        elif self.sort_combo.currentText() in self.sorts:
            keys.sort(key=self.sorts[self.sort_combo.currentText()])
        return keys

    def set_columns(self, columns: list[tuple[str, Callable[[str], str]]]) -> None:
        """Show these extra columns (header, text of a key) after the image column."""
        self.columns = list(columns)
        self.list.setHeaderLabels(["image", *(header for header, _ in self.columns)])
        self.refresh()

    def set_sorts(self, sorts: dict[str, Callable[[str], float]]) -> None:
        """Offer these extra sort orders (name, ascending value of a key) in the sort box."""
        chosen = self.sort_combo.currentText()
        self.sorts = dict(sorts)
        self.sort_combo.blockSignals(True)
        self.sort_combo.clear()
        self.sort_combo.addItems([*SORTS, *self.sorts])
        self.sort_combo.setCurrentIndex(max(0, self.sort_combo.findText(chosen)))
        self.sort_combo.blockSignals(False)
        self.refresh()

    def refresh(self) -> None:
        """Rebuild the list from the records (after a filter or sort change), keeping the selection."""
        self.list.blockSignals(True)
        self.list.clear()
        self.items = {}
        for key in self.visible_keys():
            item = QTreeWidgetItem()
            item.setData(0, Qt.ItemDataRole.UserRole, key)
            self.items[key] = item
            self._describe(key)
            self.list.addTopLevelItem(item)
            if key == self._current:
                self._make_current(item)
        self.list.blockSignals(False)

    def _make_current(self, item: QTreeWidgetItem) -> None:
        """Highlight ``item``, scrolled to its first shown column (the scores, when they come first),
        not sideways to the long image column."""
        self.list.setCurrentItem(item, self.list.header().logicalIndex(0))

    def _describe(self, key: str) -> None:
        item, record = self.items[key], self.records[key]
        share = None if record.changed_fraction is None else f"{100 * record.changed_fraction:.1f}% changed"
        changed = "" if share is None else f"  {share}"
        if record.baseline_kept and share is not None:  # first: a narrow list still shows it
            changed = "  baseline kept" + (f", {share}" if record.changed_fraction else "")
        if record.risk:
            changed += f", {risk_text(record.risk)}"
        note = f"  ({self.notes[key]})" if key in self.notes else ""
        item.setText(0, f"{key}  [{record.state}]{changed}{note}")
        item.setForeground(0, QColor(STATE_COLORS.get(record.state, "#ffffff")))
        item.setToolTip(0, record.error or item.text(0))
        for column, (_, text_of) in enumerate(self.columns, start=1):
            item.setText(column, text_of(key))
            item.setTextAlignment(column, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

    def update_entry(self, key: str) -> None:
        """Redraw one image's line after its record changed (the order stays until the next sort)."""
        if key in self.items:
            self._describe(key)

    @property
    def current_key(self) -> str | None:
        """The image highlighted in the list."""
        return self._current

    def select(self, key: str) -> None:
        """Highlight ``key`` without emitting imageChosen."""
        self._current = key
        self.list.blockSignals(True)
        if key in self.items:
            self._make_current(self.items[key])
        else:
            self.list.clearSelection()
        self.list.blockSignals(False)

    def _on_current(self, item: QTreeWidgetItem | None, _previous) -> None:
        if item is not None:
            key = item.data(0, Qt.ItemDataRole.UserRole)
            if key != self._current:
                self._current = key
                self.imageChosen.emit(key)

"""The class legend: colour, name and share of each class in the shown labels, with a checkbox that
shows or hides the class on the overlay (hidden classes are drawn transparent)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QListWidget, QListWidgetItem

from .classes import ClassTable
from .object_panel import swatch


class Legend(QListWidget):
    """Classes present in the shown labels, largest first; unchecking one hides it."""

    visibilityChanged = Signal(int, bool)  # class id, shown

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setToolTip("uncheck a class to draw it transparent (e.g. a background or ignore class)")
        self.itemChanged.connect(self._on_item)

    def show_classes(self, classes: ClassTable, shares: list[tuple[int, float]]) -> None:
        """List (class id, share of the image) pairs in the given order, checked when drawn."""
        self.blockSignals(True)
        self.clear()
        for class_id, share in shares:
            item = QListWidgetItem(swatch(classes.colors[class_id % 256]),
                                   f"{classes.name(class_id)}  {100 * share:.1f}%")
            item.setData(Qt.ItemDataRole.UserRole, class_id)
            item.setFlags((item.flags() | Qt.ItemFlag.ItemIsUserCheckable) & ~Qt.ItemFlag.ItemIsSelectable)
            hidden = class_id in classes.hidden
            item.setCheckState(Qt.CheckState.Unchecked if hidden else Qt.CheckState.Checked)
            self.addItem(item)
        self.blockSignals(False)

    def item_of(self, class_id: int) -> QListWidgetItem | None:
        """The line of a class, None when it is not listed."""
        for row in range(self.count()):
            if self.item(row).data(Qt.ItemDataRole.UserRole) == class_id:
                return self.item(row)
        return None

    def _on_item(self, item: QListWidgetItem) -> None:
        class_id = item.data(Qt.ItemDataRole.UserRole)
        if class_id is not None:
            self.visibilityChanged.emit(int(class_id), item.checkState() == Qt.CheckState.Checked)

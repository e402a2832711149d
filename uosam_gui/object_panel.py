"""The per-object table (class, area, IoU with baseline, score, LCM contrast, used mask, and why: the
verdict's reason from :mod:`uosam_core.verdicts`, also each row's tooltip) with the accept / reject /
auto buttons and the class chooser."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QGridLayout,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from uosam_core.config import LroConfig
from uosam_core.result import ObjectResult
from uosam_core.verdicts import Verdict, checks, explain

from .classes import ClassTable

DECISION_MARKS = {"accept": " \u2713", "reject": " \u2717"}  # check and cross marks
COLUMNS = ("#", "class", "area", "IoU", "score", "LCM contrast", "uses", "why")
IOU_COLUMN, CONTRAST_COLUMN, USES_COLUMN, WHY_COLUMN = 3, 5, 6, 7
USED_COLOR, KEPT_COLOR, FAILED_CHECK_COLOR = "#81c784", "#e57373", "#e57373"


def swatch(color: np.ndarray) -> QIcon:
    """A small square icon of one colour."""
    pixmap = QPixmap(12, 12)
    pixmap.fill(QColor(int(color[0]), int(color[1]), int(color[2])))
    return QIcon(pixmap)


class ObjectPanel(QWidget):
    """Lists the objects of the shown image; emits selections and decisions."""

    objectSelected = Signal(int)  # object index, -1 for none
    decisionChosen = Signal(int, str)  # object index, "accept" / "reject" / "auto"
    classChosen = Signal(int, int)  # object index, class id

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.accept_button = QPushButton("Accept (A)")
        self.reject_button = QPushButton("Reject (R)")
        self.auto_button = QPushButton("Auto (U)")
        self.why_label = QLabel("")  # the selected object's verdict reason, always in view
        self.why_label.setWordWrap(True)
        self.why_label.setObjectName("why_label")
        self.class_combo = QComboBox()
        self.class_combo.setToolTip("class of the selected object")
        self.class_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.class_combo.setMinimumContentsLength(6)  # a long class name elides; the panel stays narrow
        # two buttons a row (the class box beside Auto): whole button texts in a narrow panel
        controls = QGridLayout()
        for position, widget in enumerate((self.accept_button, self.reject_button, self.auto_button,
                                           self.class_combo)):
            controls.addWidget(widget, position // 2, position % 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.table)
        layout.addWidget(self.why_label)
        layout.addLayout(controls)
        self.classes: ClassTable | None = None
        self.objects: list[ObjectResult] = []
        self.verdicts: list[Verdict] = []  # one per row: why the object uses its refined mask or not
        self.lro_config: Callable[[], LroConfig] = LroConfig  # the thresholds the shown objects were judged with
        self.table.itemSelectionChanged.connect(self._on_selection)
        self.accept_button.clicked.connect(lambda: self._decide("accept"))
        self.reject_button.clicked.connect(lambda: self._decide("reject"))
        self.auto_button.clicked.connect(lambda: self._decide("auto"))
        self.class_combo.activated.connect(self._on_class)
        self._sync_controls()  # nothing selected yet: Accept, Reject, Auto and the class start disabled

    def set_classes(self, classes: ClassTable) -> None:
        """The class names and colours for the class chooser."""
        self.classes = classes
        self.class_combo.clear()
        for class_id in classes.class_ids():
            self.class_combo.addItem(swatch(classes.colors[class_id]), classes.name(class_id), class_id)

    def set_objects(self, objects: list[ObjectResult], selected: int = -1) -> None:
        """Fill the table; keeps ``selected`` selected (without emitting)."""
        self.objects = objects
        config = self.lro_config()
        self.verdicts = [explain(obj, config) for obj in objects]
        self.table.blockSignals(True)
        self.table.setRowCount(len(objects))
        self.table.setColumnWidth(0, 28)
        for row, (obj, verdict) in enumerate(zip(objects, self.verdicts)):
            uses = "refined" if obj.uses_refined else "baseline"
            if obj.decision != "auto":
                uses += f" ({obj.decision})"
            if obj.edited:
                uses += ", edited"
            name = self.classes.name(obj.class_id) if self.classes else str(obj.class_id)
            # the user's own decision in the first column, always in view (the "uses" column may be
            # scrolled off a narrow panel): "3 ✓" accepted, "3 ✗" rejected, in bold
            mark = DECISION_MARKS.get(obj.decision, "")
            values = (f"{obj.index}{mark}", name, str(obj.area), f"{obj.iou_with_baseline:.2f}",
                      f"{obj.step2_score:.2f}", f"{obj.lcm_contrast:.2f}", uses, verdict.text)
            failed = {column for column, check in zip((IOU_COLUMN, CONTRAST_COLUMN), checks(obj, config))
                      if not check.passed}
            for column, value in enumerate(values):
                item = QTableWidgetItem(value)
                item.setToolTip(verdict.text)
                if column == 1 and self.classes:
                    item.setIcon(swatch(self.classes.colors[obj.class_id % 256]))
                if column == USES_COLUMN:
                    item.setForeground(QColor(USED_COLOR if obj.uses_refined else KEPT_COLOR))
                if column in failed:
                    item.setForeground(QColor(FAILED_CHECK_COLOR))
                if mark and column == 0:
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                    item.setToolTip(f"you chose: {obj.decision}. {verdict.text}")
                self.table.setItem(row, column, item)
        self.table.resizeColumnsToContents()
        self.table.clearSelection()
        if 0 <= selected < len(objects):
            self.table.selectRow(selected)
        self.table.blockSignals(False)
        self._sync_controls()

    def selected_index(self) -> int:
        """The selected object's index, -1 when none."""
        rows = self.table.selectionModel().selectedRows()
        return rows[0].row() if rows else -1

    def select(self, index: int) -> None:
        """Select an object (emits objectSelected)."""
        if 0 <= index < self.table.rowCount():
            self.table.selectRow(index)

    def show_selection(self, index: int) -> None:
        """Select row ``index`` (-1: none) without emitting objectSelected."""
        self.table.blockSignals(True)
        self.table.clearSelection()
        if 0 <= index < self.table.rowCount():
            self.table.selectRow(index)
        self.table.blockSignals(False)
        self._sync_controls()

    def _sync_controls(self) -> None:
        index = self.selected_index()
        for widget in (self.accept_button, self.reject_button, self.auto_button, self.class_combo):
            widget.setEnabled(index >= 0)
        self.why_label.setText(f"why: {self.verdicts[index].text}" if 0 <= index < len(self.verdicts) else "")
        # no selection: the class box shows no class (not the last selected object's)
        self.class_combo.setCurrentIndex(self.class_combo.findData(self.objects[index].class_id) if index >= 0 else -1)

    def _on_selection(self) -> None:
        self._sync_controls()
        self.objectSelected.emit(self.selected_index())

    def _decide(self, decision: str) -> None:
        index = self.selected_index()
        if index >= 0:
            self.decisionChosen.emit(index, decision)

    def _on_class(self, position: int) -> None:
        index = self.selected_index()
        class_id = self.class_combo.itemData(position)
        if index >= 0 and class_id is not None:
            self.classChosen.emit(index, int(class_id))


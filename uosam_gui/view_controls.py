"""The view and tool controls (overlay, opacity, heatmap, outlines, tool, paint class, brush size),
each bound both ways to the :class:`ReviewState`: a control sets the state, the state sets the control."""

from __future__ import annotations

from enum import Enum

from PySide6.QtCore import QSignalBlocker, Qt
from PySide6.QtWidgets import QCheckBox, QComboBox, QFormLayout, QSlider, QSpinBox, QWidget

from .object_panel import swatch
from .review_state import BRUSH_RANGE, Heatmap, Overlay, ReviewState, Tool

COMBO_MIN_CHARACTERS = 8  # a combo box narrower than its longest entry elides it (the panel stays narrow)


def _narrow_combo() -> QComboBox:
    combo = QComboBox()
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(COMBO_MIN_CHARACTERS)
    return combo


def _enum_combo(kind: type[Enum]) -> QComboBox:
    combo = _narrow_combo()
    for member in kind:
        combo.addItem(member.value, member)
    return combo


def _bind_combo(combo: QComboBox, setter, signal, getter) -> None:
    combo.currentIndexChanged.connect(lambda position: position >= 0 and setter(combo.itemData(position)))

    def follow(*_) -> None:
        with QSignalBlocker(combo):
            combo.setCurrentIndex(max(0, combo.findData(getter())))
    signal.connect(follow)
    follow()


class ViewControls(QWidget):
    """Form of view and tool controls following (and setting) the state."""

    def __init__(self, state: ReviewState, parent=None) -> None:
        super().__init__(parent)
        self.state = state
        self.overlay_combo = _enum_combo(Overlay)
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal, minimum=0, maximum=100)
        self.heatmap_combo = _enum_combo(Heatmap)
        self.outline_check = QCheckBox("GRO mask outlines")
        self.tool_combo = _enum_combo(Tool)
        self.paint_class_combo = _narrow_combo()
        self.brush_spin = QSpinBox(minimum=BRUSH_RANGE[0], maximum=BRUSH_RANGE[1], suffix=" screen px")
        self.brush_spin.setMinimumWidth(self.brush_spin.sizeHint().width())  # its unit is never cut
        form = QFormLayout(self)
        form.setContentsMargins(2, 2, 2, 2)  # as the panels around it: the review panel stays narrow
        for label, widget in (("overlay", self.overlay_combo), ("opacity", self.opacity_slider),
                              ("heatmap", self.heatmap_combo), ("", self.outline_check), ("tool", self.tool_combo),
                              ("paint class", self.paint_class_combo), ("brush radius", self.brush_spin)):
            form.addRow(label, widget) if label else form.addRow(widget)  # a check box spans the form
        _bind_combo(self.overlay_combo, state.set_overlay, state.overlayChanged, lambda: state.overlay)
        _bind_combo(self.heatmap_combo, state.set_heatmap, state.heatmapChanged, lambda: state.heatmap)
        _bind_combo(self.tool_combo, state.set_tool, state.toolChanged, lambda: state.tool)
        _bind_combo(self.paint_class_combo, state.set_paint_class, state.paintClassChanged,
                    lambda: state.paint_class)
        self.opacity_slider.valueChanged.connect(lambda value: state.set_opacity(value / 100))
        state.opacityChanged.connect(self._follow_opacity)
        self._follow_opacity(state.opacity)
        self.outline_check.toggled.connect(state.set_outlines)
        state.outlinesChanged.connect(self._follow_outlines)
        self.brush_spin.valueChanged.connect(state.set_brush_size)
        state.brushSizeChanged.connect(self._follow_brush)
        self._follow_brush(state.brush_size)
        state.sessionChanged.connect(self._fill_classes)
        state.classesChanged.connect(self._fill_classes)  # names / colours loaded from a classes file

    def _follow_opacity(self, opacity: float) -> None:
        with QSignalBlocker(self.opacity_slider):
            self.opacity_slider.setValue(round(100 * opacity))

    def _follow_outlines(self, shown: bool) -> None:
        with QSignalBlocker(self.outline_check):
            self.outline_check.setChecked(shown)

    def _follow_brush(self, radius: int) -> None:
        with QSignalBlocker(self.brush_spin):
            self.brush_spin.setValue(radius)

    def _fill_classes(self) -> None:
        classes = self.state.classes
        with QSignalBlocker(self.paint_class_combo):
            self.paint_class_combo.clear()
            if classes is not None:
                for class_id in classes.class_ids():
                    self.paint_class_combo.addItem(swatch(classes.colors[class_id % 256]), classes.name(class_id),
                                                   class_id)
            self.paint_class_combo.setCurrentIndex(max(0, self.paint_class_combo.findData(self.state.paint_class)))

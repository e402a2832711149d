"""The split (swipe) view: baseline left of a draggable divider, final labels right of it.

Left of the divider an opaque layer shows the photo with the baseline's colours blended in at the
overlay opacity; it covers the canvas' own photo and overlay there, so the right side shows the
final labels as usual (turning the split view on sets the overlay to "final" and the heatmap off; H
brings it back). Heatmap, outlines, the selected object and its prompts stay on top of both sides. The baseline layer is
made once per shown image (at display resolution) and only cropped while the divider moves.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, QRectF, Signal

from . import layers
from .canvas import LabelCanvas
from .review_state import Heatmap, Overlay, ReviewState

SPLIT_Z = 1.5  # above the photo (0) and the overlay (1), below heatmap, outlines and selection (2..4)
DIVIDER_Z = 30
DIVIDER_PEN = pg.mkPen("#ffd54f", width=3)
DIVIDER_HOVER_PEN = pg.mkPen("#ffffff", width=5)


def blend(photo: np.ndarray, rgba: np.ndarray, opacity: float) -> np.ndarray:
    """HxWx3 uint8 photo with HxWx4 uint8 class colours blended in (alpha x ``opacity``); transparent
    classes (ignore ids, hidden classes) leave the photo.

    >>> blend(np.zeros((1, 2, 3), np.uint8), np.array([[[200, 0, 0, 255], [9, 9, 9, 0]]], np.uint8), 0.5)[0].tolist()
    [[100, 0, 0], [0, 0, 0]]
    """
    alpha = rgba[..., 3:4].astype(np.float32) * (opacity / 255.0)
    mixed = photo.astype(np.float32) * (1.0 - alpha) + rgba[..., :3].astype(np.float32) * alpha
    return np.clip(np.rint(mixed), 0, 255).astype(np.uint8)


class SplitView(QObject):
    """Shows the baseline left of a vertical divider on the canvas; follows the review state."""

    toggled = Signal(bool)

    def __init__(self, state: ReviewState, canvas: LabelCanvas) -> None:
        super().__init__(canvas)
        self.state, self.canvas = state, canvas
        self.enabled = False
        self.left_item = pg.ImageItem()
        self.left_item.setZValue(SPLIT_Z)
        self.left_item.setVisible(False)
        canvas.view.addItem(self.left_item)
        self.divider = pg.InfiniteLine(angle=90, movable=True, pen=DIVIDER_PEN, hoverPen=DIVIDER_HOVER_PEN)
        self.divider.setZValue(DIVIDER_Z)
        self.divider.setVisible(False)
        canvas.view.addItem(self.divider, ignoreBounds=True)
        self.labels = [pg.TextItem(text, color="#ffd54f", fill=pg.mkBrush(0, 0, 0, 150), anchor=anchor)
                       for text, anchor in (("baseline", (1, 0)), ("final", (0, 0)))]
        for label in self.labels:
            label.setZValue(DIVIDER_Z)
            label.setVisible(False)
            canvas.view.addItem(label, ignoreBounds=True)
        self._composite: np.ndarray | None = None  # HxWx3 display-resolution photo + baseline colours
        self._step = 1
        self.divider.sigPositionChanged.connect(self._crop)
        canvas.view.sigRangeChanged.connect(self._place_labels)
        for signal in (state.documentChanged, state.opacityChanged, state.sessionChanged):
            signal.connect(self.redraw)
        if hasattr(state, "classesChanged"):
            state.classesChanged.connect(self.redraw)
        state.overlayChanged.connect(self._name_right_side)

    # ---------------------------------------------------------------- switching
    def set_enabled(self, enabled: bool) -> None:
        """Turn the split view on (divider in the middle of the image if it was not on it) or off."""
        enabled = bool(enabled)
        if enabled == self.enabled:
            return
        self.enabled = enabled
        if enabled:  # it compares label maps: the final labels on the right, no heatmap over both
            self.state.set_overlay(Overlay.FINAL)
            self.state.set_heatmap(Heatmap.NONE)
            shape = self.canvas.image_shape
            if shape is not None and not 0 < self.divider.value() < shape[1]:
                self.divider.setValue(shape[1] / 2)
        self.redraw()
        self.toggled.emit(enabled)

    def set_position(self, x: float) -> None:
        """Put the divider at image column ``x`` (clipped to the image)."""
        shape = self.canvas.image_shape
        self.divider.setValue(float(np.clip(x, 0, shape[1])) if shape else float(x))

    @property
    def position(self) -> float:
        """The divider's image column."""
        return float(self.divider.value())

    # ---------------------------------------------------------------- drawing
    def _sources(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(photo HxWx3, baseline HxW) of the shown document or preview."""
        state = self.state
        if state.document is not None:
            return state.document.image, state.document.result.baseline
        if state.preview is not None:
            return state.preview.image, state.preview.baseline
        return None

    def redraw(self, *_) -> None:
        """Build the left layer for the shown image (or hide everything when off / nothing shown)."""
        sources, classes, shape = self._sources(), self.state.classes, self.canvas.image_shape
        shown = self.enabled and sources is not None and classes is not None and shape is not None
        for item in (self.left_item, self.divider, *self.labels):
            item.setVisible(shown)
        if not shown:
            self._composite = None
            return
        photo, baseline = sources
        self._step = layers.display_step(photo.shape)
        small = baseline[:: self._step, :: self._step]
        self._composite = blend(photo[:: self._step, :: self._step], layers.label_colors(classes, small),
                                self.state.opacity)
        self.divider.setBounds((0, shape[1]))
        if not 0 <= self.divider.value() <= shape[1]:
            self.divider.setValue(shape[1] / 2)
        self._crop()

    def _crop(self, *_) -> None:
        """Show the left layer up to the divider and move the side labels with it."""
        if self._composite is None:
            return
        columns = int(np.clip(np.ceil(self.divider.value() / self._step), 0, self._composite.shape[1]))
        self.left_item.setVisible(columns > 0)
        if columns > 0:
            self.left_item.setImage(self._composite[:, :columns], levels=(0, 255))
            self.left_item.setRect(QRectF(0, 0, columns * self._step, self._composite.shape[0] * self._step))
        self._place_labels()

    def _name_right_side(self) -> None:
        """The right caption names what the overlay shows there ("final" unless the user switched it)."""
        self.labels[1].setText(self.state.overlay.value)

    def _place_labels(self, *_) -> None:
        """"baseline" and "final" beside the divider, at the top of what the view shows of the image."""
        top = max(0.0, self.canvas.view.viewRange()[1][0])
        for label in self.labels:
            label.setPos(self.divider.value(), top)

"""The image view: image, label overlay, heatmap with colour bar, outlines, editable prompts, and
the brush / eraser / fill tools. Knows nothing of documents: it shows arrays and emits edits.

Axis order is row-major everywhere (arrays are HxW, points are (x, y) pixels, y down).
"""

from __future__ import annotations

import cv2
import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import QGraphicsRectItem

from uosam_core.result import Box, ObjectPrompts

pg.setConfigOptions(imageAxisOrder="row-major", antialias=True)

TOOLS = ("prompt", "brush", "eraser", "fill")
POSITIVE_COLOR = QColor(40, 230, 70)
NEGATIVE_COLOR = QColor(240, 40, 40)
BOX_COLOR = QColor(255, 210, 0)
STEP2_COLOR = QColor(0, 220, 255)


class CanvasViewBox(pg.ViewBox):
    """A ViewBox whose clicks and drags go to the canvas tools before panning."""

    def __init__(self, canvas: LabelCanvas) -> None:
        super().__init__(invertY=True, lockAspect=True, enableMenu=False)
        self.canvas = canvas

    def mouseClickEvent(self, event) -> None:  # noqa: N802 - Qt naming
        if self.canvas.handle_click(self.mapSceneToView(event.scenePos()), event.button(), event.modifiers()):
            event.accept()
        else:
            super().mouseClickEvent(event)

    def mouseDragEvent(self, event, axis=None) -> None:  # noqa: N802 - Qt naming
        if self.canvas.tool in ("brush", "eraser") and event.button() == Qt.MouseButton.LeftButton:
            event.accept()
            point = self.mapSceneToView(event.scenePos())
            if event.isStart():
                self.canvas.begin_stroke(point)
            else:
                self.canvas.extend_stroke(point)
            if event.isFinish():
                self.canvas.end_stroke()
        else:
            super().mouseDragEvent(event, axis)


class LabelCanvas(pg.GraphicsLayoutWidget):
    """Image + overlays + prompts; emits prompt edits, strokes, fills and the hovered pixel."""

    promptsEdited = Signal(object)  # ObjectPrompts
    strokeFinished = Signal(object, str)  # HxW bool mask, tool ("brush" or "eraser")
    fillRequested = Signal(int, int)  # x, y
    hovered = Signal(int, int)  # x, y (-1, -1 outside the image)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setBackground("#202020")
        self.view = CanvasViewBox(self)
        self.addItem(self.view, row=0, col=0)
        self.image_item = pg.ImageItem()
        self.overlay_item = pg.ImageItem()
        self.heatmap_item = pg.ImageItem()
        self.outline_item = pg.ImageItem()
        self.selection_item = pg.ImageItem()
        self.stroke_item = pg.ImageItem()
        for z, item in enumerate((self.image_item, self.overlay_item, self.heatmap_item, self.outline_item,
                                  self.selection_item, self.stroke_item)):
            item.setZValue(z)
            self.view.addItem(item)
        self.heatmap_item.setLookupTable(pg.colormap.get("viridis").getLookupTable(nPts=256))
        self.colorbar = pg.ColorBarItem(values=(0, 1), colorMap=pg.colormap.get("viridis"), interactive=False,
                                        width=14, colorMapMenu=False)
        self.colorbar.setImageItem(self.heatmap_item)
        self.addItem(self.colorbar, row=0, col=1)
        self.colorbar.setVisible(False)
        self.heatmap_item.setOpacity(0.65)
        self.tool = "prompt"
        self.brush_radius = 6
        self.prompts: ObjectPrompts | None = None
        self.point_items: list[tuple[pg.TargetItem, bool]] = []
        self.box_item: pg.RectROI | None = None
        self.step2_item: QGraphicsRectItem | None = None
        self.image_shape: tuple[int, int] | None = None
        self._stroke: np.ndarray | None = None
        self._last_point: tuple[int, int] | None = None
        self.scene().sigMouseMoved.connect(self._on_mouse_moved)

    # ---------------------------------------------------------------- layers
    def set_image(self, image: np.ndarray) -> None:
        """Show an HxWx3 uint8 image and fit it when its size changed."""
        resized = self.image_shape != image.shape[:2]
        self.image_shape = image.shape[:2]
        self.image_item.setImage(image, levels=(0, 255))
        if resized:
            self.fit()

    def fit(self) -> None:
        """Fit the whole image in the view."""
        if self.image_shape:
            self.view.setRange(xRange=(0, self.image_shape[1]), yRange=(0, self.image_shape[0]), padding=0.02)

    def set_overlay(self, rgba: np.ndarray | None, opacity: float) -> None:
        """Show a label overlay (HxWx4 uint8) at ``opacity`` (0..1), or hide it."""
        self.overlay_item.setVisible(rgba is not None)
        if rgba is not None:
            self.overlay_item.setImage(rgba, levels=(0, 255))
            self.overlay_item.setOpacity(opacity)

    def set_heatmap(self, values: np.ndarray | None, levels: tuple[float, float] = (0.0, 1.0),
                    label: str = "") -> None:
        """Show a float map with the colour bar (LCM, vote share), or hide both."""
        self.heatmap_item.setVisible(values is not None)
        self.colorbar.setVisible(values is not None)
        if values is not None:
            self.heatmap_item.setImage(values.astype(np.float32), levels=levels)
            self.colorbar.setLevels(levels)
            self.colorbar.setLabel("left", label)

    def set_outline(self, rgba: np.ndarray | None) -> None:
        """Show outlines (HxWx4 uint8), e.g. the GRO masks' edges, or hide them."""
        self.outline_item.setVisible(rgba is not None)
        if rgba is not None:
            self.outline_item.setImage(rgba, levels=(0, 255))

    def set_selection(self, rgba: np.ndarray | None) -> None:
        """Show the selected object's mask / outline layer, or hide it."""
        self.selection_item.setVisible(rgba is not None)
        if rgba is not None:
            self.selection_item.setImage(rgba, levels=(0, 255))

    # ---------------------------------------------------------------- prompts
    def clear_prompts(self) -> None:
        """Remove every prompt item."""
        for item, _ in self.point_items:
            self.view.removeItem(item)
        self.point_items = []
        for item in (self.box_item, self.step2_item):
            if item is not None:
                self.view.removeItem(item)
        self.box_item = self.step2_item = None
        self.prompts = None

    def show_prompts(self, prompts: ObjectPrompts | None, step2_box: Box | None = None) -> None:
        """Show an object's editable points and box, and its (fixed) step-2 box."""
        self.clear_prompts()
        self.prompts = prompts
        if prompts is None:
            return
        for point in prompts.positive:
            self._add_point_item(point, positive=True)
        for point in prompts.negative:
            self._add_point_item(point, positive=False)
        if prompts.box is not None:
            x0, y0, x1, y1 = prompts.box
            self.box_item = pg.RectROI((x0, y0), (max(x1 - x0, 1), max(y1 - y0, 1)), pen=pg.mkPen(BOX_COLOR, width=2),
                                       removable=False, rotatable=False)
            self.box_item.setZValue(20)
            self.box_item.sigRegionChangeFinished.connect(self._emit_prompts)
            self.view.addItem(self.box_item)
        self.set_step2_box(step2_box)

    def set_step2_box(self, step2_box: Box | None) -> None:
        """Show (or hide) the fixed step-2 box without touching the editable prompts."""
        if self.step2_item is not None:
            self.view.removeItem(self.step2_item)
            self.step2_item = None
        if step2_box is not None:
            x0, y0, x1, y1 = step2_box
            self.step2_item = QGraphicsRectItem(x0, y0, x1 - x0, y1 - y0)
            pen = QPen(STEP2_COLOR, 0)
            pen.setStyle(Qt.PenStyle.DashLine)
            pen.setCosmetic(True)
            pen.setWidth(2)
            self.step2_item.setPen(pen)
            self.step2_item.setZValue(19)
            self.view.addItem(self.step2_item)

    def _add_point_item(self, point: tuple[float, float], positive: bool) -> pg.TargetItem:
        color = POSITIVE_COLOR if positive else NEGATIVE_COLOR
        item = pg.TargetItem(pos=point, size=15, symbol="o" if positive else "x", pen=pg.mkPen("k", width=1),
                             brush=pg.mkBrush(color), movable=True)
        item.setZValue(30)
        item.sigPositionChangeFinished.connect(self._emit_prompts)
        self.view.addItem(item)
        self.point_items.append((item, positive))
        return item

    def current_prompts(self) -> ObjectPrompts | None:
        """The prompts as the items now show them."""
        if self.prompts is None:
            return None
        positive = [(float(item.pos().x()), float(item.pos().y())) for item, pos in self.point_items if pos]
        negative = [(float(item.pos().x()), float(item.pos().y())) for item, pos in self.point_items if not pos]
        box = None
        if self.box_item is not None:
            x0, y0 = self.box_item.pos()
            width, height = self.box_item.size()
            box = (float(x0), float(y0), float(x0 + width), float(y0 + height))
        return ObjectPrompts(positive=positive, negative=negative, box=box)

    def _emit_prompts(self, *_) -> None:
        prompts = self.current_prompts()
        if prompts is not None:
            self.prompts = prompts
            self.promptsEdited.emit(prompts)

    def handle_click(self, point: QPointF, button, modifiers) -> bool:
        """Prompt tool: left click adds a positive point, right click a negative one, Ctrl+click removes
        the nearest point; fill tool: fills the clicked region. Returns whether the click was used."""
        x, y = point.x(), point.y()
        if not self._inside(x, y):
            return False
        if self.tool == "fill" and button == Qt.MouseButton.LeftButton:
            self.fillRequested.emit(int(x), int(y))
            return True
        if self.tool != "prompt" or self.prompts is None:
            return False
        if modifiers & Qt.KeyboardModifier.ControlModifier:
            return self.remove_nearest_point(x, y)
        if button in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton):
            self._add_point_item((x, y), positive=button == Qt.MouseButton.LeftButton)
            self._emit_prompts()
            return True
        return False

    def remove_nearest_point(self, x: float, y: float, radius: float = 12.0) -> bool:
        """Remove the prompt point nearest to (x, y) within ``radius`` screen-independent pixels."""
        if not self.point_items:
            return False
        distances = [np.hypot(item.pos().x() - x, item.pos().y() - y) for item, _ in self.point_items]
        nearest = int(np.argmin(distances))
        if distances[nearest] > radius:
            return False
        item, _ = self.point_items.pop(nearest)
        self.view.removeItem(item)
        self._emit_prompts()
        return True

    # ---------------------------------------------------------------- strokes
    def _inside(self, x: float, y: float) -> bool:
        return self.image_shape is not None and 0 <= x < self.image_shape[1] and 0 <= y < self.image_shape[0]

    def begin_stroke(self, point: QPointF) -> None:
        """Start a brush/eraser stroke at a view point."""
        if self.image_shape is None:
            return
        self._stroke = np.zeros(self.image_shape, np.uint8)
        self._last_point = None
        self.extend_stroke(point)

    def extend_stroke(self, point: QPointF) -> None:
        """Add a segment to the stroke and preview it."""
        if self._stroke is None:
            return
        current = (int(round(point.x())), int(round(point.y())))
        cv2.line(self._stroke, self._last_point or current, current, 1, thickness=2 * self.brush_radius + 1)
        self._last_point = current
        preview = np.zeros((*self.image_shape, 4), np.uint8)
        preview[self._stroke > 0] = (255, 255, 255, 110)
        self.stroke_item.setImage(preview, levels=(0, 255))
        self.stroke_item.setVisible(True)

    def end_stroke(self) -> None:
        """Finish the stroke and emit its mask."""
        if self._stroke is None:
            return
        mask = self._stroke.astype(bool)
        self._stroke = None
        self.stroke_item.setVisible(False)
        if mask.any():
            self.strokeFinished.emit(mask, self.tool)

    # ---------------------------------------------------------------- hover
    def _on_mouse_moved(self, scene_pos) -> None:
        point = self.view.mapSceneToView(scene_pos)
        if self._inside(point.x(), point.y()):
            self.hovered.emit(int(point.x()), int(point.y()))
        else:
            self.hovered.emit(-1, -1)

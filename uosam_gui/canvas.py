"""The image view: photo, label overlay, heatmap with colour bar, outlines, the selected object,
editable prompts, and the tools (prompt clicks, brush / eraser strokes, fill). Knows nothing of
documents: it shows layers (see :mod:`uosam_gui.layers`) and emits what the user did.

Axis order is row-major everywhere (arrays are HxW, points are (x, y) pixels, y down).
"""

from __future__ import annotations

import cv2
import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsEllipseItem, QGraphicsPathItem

from uosam_core.result import Box, ObjectPrompts

from .layers import Layer
from .prompt_items import PromptBox, point_item, prompts_of, step2_item
from .review_state import Tool

pg.setConfigOptions(imageAxisOrder="row-major", antialias=True)
REMOVE_RADIUS_PX = 12  # Ctrl+click removes the nearest point within this many screen pixels


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
        if self.canvas.tool.paints and event.button() == Qt.MouseButton.LeftButton:
            event.accept()
            point = self.mapSceneToView(event.scenePos())
            if event.isStart():  # the drag starts where the button went down, not where it passed the threshold
                self.canvas.begin_stroke(self.mapSceneToView(event.buttonDownScenePos()))
            self.canvas.extend_stroke(point)
            if event.isFinish():
                self.canvas.end_stroke()
        else:
            super().mouseDragEvent(event, axis)


COLORBAR_WIDTH = 58  # screen pixels of the heatmap's colour bar with its tick labels ("-0.25")


class LabelCanvas(pg.GraphicsLayoutWidget):
    """Photo + layers + prompts; emits prompt edits, strokes, fills, picks and the hovered pixel."""

    promptsEdited = Signal(object)  # ObjectPrompts
    strokeFinished = Signal(object, object)  # HxW bool mask, Tool (BRUSH or ERASER)
    fillRequested = Signal(int, int)  # x, y
    objectPicked = Signal(int, int)  # x, y: prompt tool, nothing selected or a left click outside the box
    emptyClicked = Signal()  # a click beside the image
    hovered = Signal(int, int)  # x, y (-1, -1 outside the image)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setBackground("#202020")
        self.view = CanvasViewBox(self)
        self.addItem(self.view, row=0, col=0)
        self.image_item, self.overlay_item, self.heatmap_item, self.outline_item, self.selection_item = (
            pg.ImageItem() for _ in range(5))
        for z, item in enumerate((self.image_item, self.overlay_item, self.heatmap_item, self.outline_item,
                                  self.selection_item)):
            item.setZValue(z)
            self.view.addItem(item)
        self.heatmap_item.setLookupTable(pg.colormap.get("viridis").getLookupTable(nPts=256))
        self.colorbar = pg.ColorBarItem(values=(0, 1), colorMap=pg.colormap.get("viridis"), interactive=False,
                                        width=14, colorMapMenu=False)
        self.colorbar.setImageItem(self.heatmap_item)
        self.addItem(self.colorbar, row=0, col=1)
        policy = self.colorbar.sizePolicy()
        policy.setRetainSizeWhenHidden(True)  # showing/hiding the bar must not shift the image under the cursor
        self.colorbar.setSizePolicy(policy)
        # a fixed width (bar and tick labels; the map's name is its tooltip and the heatmap box's text): the
        # bar appearing with the first heatmap, or other tick labels, must not narrow the image's view
        self.colorbar.setMinimumWidth(COLORBAR_WIDTH)
        self.colorbar.setMaximumWidth(COLORBAR_WIDTH)
        self.colorbar.setVisible(False)
        self.heatmap_item.setOpacity(0.65)
        self.stroke_item = QGraphicsPathItem()
        self.stroke_item.setZValue(40)
        self.brush_item = QGraphicsEllipseItem()
        pen = QPen(QColor(255, 255, 255), 0)
        pen.setCosmetic(True)
        self.brush_item.setPen(pen)
        self.brush_item.setZValue(41)
        for item in (self.stroke_item, self.brush_item):
            item.setVisible(False)
            self.view.addItem(item)
        self.shown_layers: dict[pg.ImageItem, Layer | None] = {}  # what each layer item shows
        self.tool = Tool.PROMPT
        self.brush_radius = 8  # screen pixels
        self.prompts: ObjectPrompts | None = None
        self.point_items: list[tuple[pg.TargetItem, bool]] = []
        self.box_item: PromptBox | None = None
        self.step2_item = None
        self.image_shape: tuple[int, int] | None = None
        self._stroke: list[tuple[int, int]] = []
        self._stroke_radius = 1
        self.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.scene().sigMouseClicked.connect(self._on_scene_click)

    # ---------------------------------------------------------------- layers
    def set_image(self, photo: Layer | None, shape: tuple[int, int] | None = None) -> None:
        """Show a photo layer (HxWx3 uint8, maybe sampled for display; None: nothing) of an image of
        ``shape`` (H, W full-resolution pixels) and fit it when the size changed."""
        self._show(self.image_item, photo, levels=(0, 255))
        if photo is None or shape is None:
            self.image_shape = None
            return
        resized = self.image_shape != shape
        self.image_shape = shape
        if resized:
            self.fit()

    def fit(self) -> None:
        """Fit the whole image in the view."""
        if self.image_shape:
            self.view.setRange(xRange=(0, self.image_shape[1]), yRange=(0, self.image_shape[0]), padding=0.02)

    def _show(self, item: pg.ImageItem, layer: Layer | None, **image_options) -> None:
        self.shown_layers[item] = layer
        item.setVisible(layer is not None)
        if layer is not None:
            item.setImage(layer.data, **image_options)
            item.setRect(QRectF(*layer.rect))

    def set_overlay(self, layer: Layer | None) -> None:
        """Show a label overlay (RGBA layer), or hide it."""
        self._show(self.overlay_item, layer, levels=(0, 255))

    def set_overlay_opacity(self, opacity: float) -> None:
        """Overlay opacity 0..1 (no colours are recomputed)."""
        self.overlay_item.setOpacity(opacity)

    def set_heatmap(self, layer: Layer | None, levels: tuple[float, float] = (0.0, 1.0), label: str = "") -> None:
        """Show a float map with the colour bar (LCM, vote share), or hide both."""
        self._show(self.heatmap_item, layer, levels=levels)
        self.colorbar.setVisible(layer is not None)
        if layer is not None:
            self.colorbar.setLevels(levels)
            self.colorbar.setToolTip(label)

    def set_outline(self, layer: Layer | None) -> None:
        """Show outlines (RGBA layer), e.g. the GRO masks' edges, or hide them."""
        self._show(self.outline_item, layer, levels=(0, 255))

    def set_selection(self, layer: Layer | None) -> None:
        """Show the selected object's mask / outline layer, or hide it."""
        self._show(self.selection_item, layer, levels=(0, 255))

    # ---------------------------------------------------------------- prompts
    def clear_prompts(self) -> None:
        """Remove every prompt item."""
        for item, _ in self.point_items:
            self.view.removeItem(item)
        self.point_items = []
        if self.box_item is not None:
            self.view.removeItem(self.box_item)
        self.box_item = None
        self.set_step2_box(None)
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
            self.box_item = PromptBox(prompts.box)
            self.box_item.setZValue(20)
            self.box_item.sigRegionChangeFinished.connect(self._emit_prompts)
            self.view.addItem(self.box_item)
        self.set_step2_box(step2_box)
        self.set_tool(self.tool)

    def set_step2_box(self, step2_box: Box | None) -> None:
        """Show (or hide) the fixed step-2 box without touching the editable prompts."""
        if self.step2_item is not None:
            self.view.removeItem(self.step2_item)
            self.step2_item = None
        if step2_box is not None:
            self.step2_item = step2_item(step2_box)
            self.view.addItem(self.step2_item)

    def _add_point_item(self, point: tuple[float, float], positive: bool) -> pg.TargetItem:
        item = point_item(point, positive)
        item.sigPositionChangeFinished.connect(self._emit_prompts)
        item.setEnabled(self.tool == Tool.PROMPT)
        self.view.addItem(item)
        self.point_items.append((item, positive))
        return item

    def current_prompts(self) -> ObjectPrompts | None:
        """The prompts as the items now show them."""
        return None if self.prompts is None else prompts_of(self.point_items, self.box_item)

    def _emit_prompts(self, *_) -> None:
        prompts = self.current_prompts()
        if prompts is not None:
            self.prompts = prompts
            self.promptsEdited.emit(prompts)

    # ---------------------------------------------------------------- tools
    def set_tool(self, tool: Tool) -> None:
        """Pick the tool; only the prompt tool can move prompts (the others work through them)."""
        self.tool = tool
        editable = tool == Tool.PROMPT
        for item, _ in self.point_items:
            item.setEnabled(editable)
        if self.box_item is not None:
            self.box_item.setEnabled(editable)
            for handle in self.box_item.getHandles():
                handle.setEnabled(editable)
        if not tool.paints:
            self.brush_item.setVisible(False)

    def screen_to_image(self, pixels: float) -> float:
        """A length in screen pixels as image pixels at the current zoom."""
        return pixels * float(self.view.viewPixelSize()[0] or 1.0)

    def handle_click(self, point: QPointF, button, modifiers) -> bool:
        """Route a click to the tool; returns whether it was used."""
        x, y = point.x(), point.y()
        left = button == Qt.MouseButton.LeftButton
        if not self._inside(x, y):
            if left and self.image_shape is not None:
                self.emptyClicked.emit()
                return True
            return False
        if self.tool == Tool.FILL:
            if left:
                self.fillRequested.emit(int(x), int(y))
            return left
        if self.tool.paints:
            if left:
                self.begin_stroke(point)
                self.end_stroke()
            return left
        if self.prompts is None:
            if left:
                self.objectPicked.emit(int(x), int(y))
            return left
        if modifiers & Qt.KeyboardModifier.ControlModifier:
            return self.remove_nearest_point(x, y)
        if left and not self._inside_box(x, y):
            self.objectPicked.emit(int(x), int(y))  # outside the selected object's box: pick another object
            return True
        if button in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton):
            self._add_point_item((x, y), positive=left)
            self._emit_prompts()
            return True
        return False

    def _on_scene_click(self, event) -> None:
        """A left click no item used (beside the view box: the colour bar's column, the margins) counts as
        a click beside the image, except on the colour bar's gradient itself."""
        if event.isAccepted() or event.button() != Qt.MouseButton.LeftButton or self.image_shape is None:
            return
        position = event.scenePos()
        if self.view.sceneBoundingRect().contains(position):
            return  # the view box had it (handle_click decides there)
        bar = self.colorbar.bar
        if self.colorbar.isVisible() and bar.sceneBoundingRect().contains(position):
            return
        event.accept()
        self.emptyClicked.emit()

    def remove_nearest_point(self, x: float, y: float) -> bool:
        """Remove the prompt point nearest to (x, y) within ``REMOVE_RADIUS_PX`` screen pixels."""
        if not self.point_items:
            return False
        distances = [np.hypot(item.pos().x() - x, item.pos().y() - y) for item, _ in self.point_items]
        nearest = int(np.argmin(distances))
        if distances[nearest] > max(self.screen_to_image(REMOVE_RADIUS_PX), 1.0):
            return False
        item, _ = self.point_items.pop(nearest)
        self.view.removeItem(item)
        self._emit_prompts()
        return True

    # ---------------------------------------------------------------- strokes
    def _inside_box(self, x: float, y: float) -> bool:
        """Whether (x, y) is inside the selected object's (possibly dragged) box; True when it has none."""
        prompts = self.current_prompts()
        if prompts is None or prompts.box is None:
            return True
        x0, y0, x1, y1 = prompts.box
        return x0 <= x <= x1 and y0 <= y <= y1

    def _inside(self, x: float, y: float) -> bool:
        return self.image_shape is not None and 0 <= x < self.image_shape[1] and 0 <= y < self.image_shape[0]

    def begin_stroke(self, point: QPointF) -> None:
        """Start a brush/eraser stroke at a view point (radius from the screen-pixel brush size)."""
        if self.image_shape is None:
            return
        self._stroke = []
        self._stroke_radius = max(0, int(round(self.screen_to_image(self.brush_radius))))
        self.extend_stroke(point)

    def extend_stroke(self, point: QPointF) -> None:
        """Add a segment to the stroke and preview it as a vector path (nothing is rasterised yet)."""
        if self.image_shape is None:
            return
        self._stroke.append((int(round(point.x())), int(round(point.y()))))
        path = QPainterPath(QPointF(*self._stroke[0]))
        for x, y in self._stroke[1:]:
            path.lineTo(x, y)
        if len(self._stroke) == 1:
            path.lineTo(self._stroke[0][0] + 0.01, self._stroke[0][1])
        pen = QPen(QColor(255, 255, 255, 110), 2 * self._stroke_radius + 1)
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
        self.stroke_item.setPen(pen)
        self.stroke_item.setPath(path)
        self.stroke_item.setVisible(True)

    def end_stroke(self) -> None:
        """Finish the stroke: rasterise it once at full resolution and emit its mask."""
        points, self._stroke = self._stroke, []
        self.stroke_item.setVisible(False)
        if not points or self.image_shape is None:
            return
        # rasterise inside the stroke's bounding box only, then place it in a full-size mask
        height, width = self.image_shape
        radius = self._stroke_radius + 1
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        x0, y0 = max(0, min(xs) - radius), max(0, min(ys) - radius)
        x1, y1 = min(width, max(xs) + radius + 1), min(height, max(ys) + radius + 1)
        if x0 >= x1 or y0 >= y1:
            return
        window = np.zeros((y1 - y0, x1 - x0), np.uint8)
        for (ax, ay), (bx, by) in zip(points, points[1:] or points):
            cv2.line(window, (ax - x0, ay - y0), (bx - x0, by - y0), 1, thickness=2 * self._stroke_radius + 1)
        if window.any():
            mask = np.zeros(self.image_shape, bool)
            mask[y0:y1, x0:x1] = window.view(bool)
            self.strokeFinished.emit(mask, self.tool)

    # ---------------------------------------------------------------- hover
    def leaveEvent(self, event) -> None:  # noqa: N802 - Qt naming
        """The pointer left the canvas: no pixel is hovered any more (and no brush outline is shown)."""
        self.brush_item.setVisible(False)
        self.hovered.emit(-1, -1)
        super().leaveEvent(event)

    def _on_mouse_moved(self, scene_pos) -> None:
        point = self.view.mapSceneToView(scene_pos)
        inside = self._inside(point.x(), point.y())
        if self.tool.paints and inside:
            radius = self.screen_to_image(self.brush_radius)
            self.brush_item.setRect(QRectF(point.x() - radius, point.y() - radius, 2 * radius, 2 * radius))
        self.brush_item.setVisible(self.tool.paints and inside)
        if self._stroke:
            return
        self.hovered.emit(*((int(point.x()), int(point.y())) if inside else (-1, -1)))

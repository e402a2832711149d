"""Editable prompt items as SAM tools draw them: a box that is moved by its edges and resized by its
corner handles (its inside stays free for clicks that add points), and draggable points."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QPainterPath, QPainterPathStroker, QPen
from PySide6.QtWidgets import QGraphicsRectItem

from uosam_core.result import Box, ObjectPrompts

POSITIVE_COLOR = QColor(40, 230, 70)
NEGATIVE_COLOR = QColor(240, 40, 40)
BOX_COLOR = QColor(255, 210, 0)
STEP2_COLOR = QColor(0, 220, 255)
EDGE_GRIP_PX = 5  # half-width, in screen pixels, of the band along the box edge that grabs a drag


class PromptBox(pg.RectROI):
    """The editable box: only its edges (moving) and its four corner handles (resizing) take the mouse."""

    def __init__(self, box: Box) -> None:
        x0, y0, x1, y1 = box
        super().__init__((x0, y0), (max(x1 - x0, 1), max(y1 - y0, 1)), pen=pg.mkPen(BOX_COLOR, width=2),
                         hoverPen=pg.mkPen(BOX_COLOR, width=4), removable=False, rotatable=False)
        for position, center in (([0, 0], [1, 1]), ([1, 0], [0, 1]), ([0, 1], [1, 0])):
            self.addScaleHandle(position, center)

    def shape(self) -> QPainterPath:  # noqa: D401 - Qt naming
        """A band along the edges (in item coordinates, ``EDGE_GRIP_PX`` screen pixels wide each side)."""
        width, height = self.state["size"]
        outline = QPainterPath()
        outline.addRect(QRectF(0, 0, width, height))
        stroker = QPainterPathStroker()
        pixel = self.pixelLength(pg.Point(1, 0)) or 1.0
        stroker.setWidth(2 * EDGE_GRIP_PX * pixel)
        return stroker.createStroke(outline)

    def viewTransformChanged(self) -> None:  # noqa: N802 - Qt naming
        """The grip band is in screen pixels: the shape changes with the zoom."""
        self.prepareGeometryChange()
        super().viewTransformChanged()

    def as_box(self) -> Box:
        """(x0, y0, x1, y1) image pixels."""
        x0, y0 = self.pos()
        width, height = self.size()
        return float(x0), float(y0), float(x0 + width), float(y0 + height)


def point_item(point: tuple[float, float], positive: bool) -> pg.TargetItem:
    """A draggable prompt point: green circle (positive) or red cross (negative)."""
    color = POSITIVE_COLOR if positive else NEGATIVE_COLOR
    item = pg.TargetItem(pos=point, size=15, symbol="o" if positive else "x", pen=pg.mkPen("k", width=1),
                         brush=pg.mkBrush(color), movable=True)
    item.setZValue(30)
    return item


def step2_item(box: Box) -> QGraphicsRectItem:
    """The fixed step-2 box (dashed cyan, 2 screen pixels)."""
    x0, y0, x1, y1 = box
    item = QGraphicsRectItem(x0, y0, x1 - x0, y1 - y0)
    pen = QPen(STEP2_COLOR, 0)
    pen.setStyle(Qt.PenStyle.DashLine)
    pen.setCosmetic(True)
    pen.setWidth(2)
    item.setPen(pen)
    item.setZValue(19)
    return item


def prompts_of(point_items: list[tuple[pg.TargetItem, bool]], box: PromptBox | None) -> ObjectPrompts:
    """The prompts as the items now show them."""
    positive = [(float(item.pos().x()), float(item.pos().y())) for item, pos in point_items if pos]
    negative = [(float(item.pos().x()), float(item.pos().y())) for item, pos in point_items if not pos]
    return ObjectPrompts(positive=positive, negative=negative, box=box.as_box() if box is not None else None)

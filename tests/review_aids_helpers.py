"""Helpers of the review-aid tests (keyboard review, split view): a window on the shared real engine,
and a user's keys and mouse at the places users press and click."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import QPointF, QSettings, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from uosam_core.config import GroConfig, RefineConfig
from uosam_core.pipeline import Refiner
from uosam_gui.controller import RefineController
from uosam_gui.main_window import MainWindow

REFINE_TIMEOUT_MS = 240_000
LRO_ONLY = RefineConfig(gro=GroConfig(profile="off"))  # the review aids need objects, not the GRO vote


def make_window(qtbot, tmp_path: Path, engine, config: RefineConfig = LRO_ONLY) -> MainWindow:
    """The real window, its worker using the session's loaded MobileSAM engine (no second load)."""
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    controller = RefineController(device="cpu", config=config)
    controller.model.refiner = Refiner(engine, config)
    window = MainWindow(controller, settings)
    qtbot.addWidget(window)
    window.show()
    window.activateWindow()
    qtbot.waitExposed(window)
    return window


def key(window: MainWindow, which, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    """Press and release a key over the canvas (where the user's focus is while reviewing)."""
    QTest.keyClick(window.canvas, which, modifiers)
    QApplication.processEvents()


def widget_point(window: MainWindow, x: float, y: float):
    """Image pixel (x, y) as a position on the canvas' viewport."""
    canvas = window.canvas
    return canvas.mapFromScene(canvas.view.mapViewToScene(QPointF(x, y)))


def drag(window: MainWindow, points: list[tuple[float, float]]) -> None:
    """Press the left button at the first image point, move through the others, release at the last."""
    viewport = window.canvas.viewport()
    positions = [QPointF(widget_point(window, x, y)) for x, y in points]
    left, none, plain = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier
    events = [QMouseEvent(QMouseEvent.Type.MouseButtonPress, positions[0], viewport.mapToGlobal(positions[0]),
                          left, left, plain)]
    events += [QMouseEvent(QMouseEvent.Type.MouseMove, p, viewport.mapToGlobal(p), none, left, plain)
               for p in positions[1:]]
    events.append(QMouseEvent(QMouseEvent.Type.MouseButtonRelease, positions[-1],
                              viewport.mapToGlobal(positions[-1]), left, none, plain))
    for event in events:
        QApplication.sendEvent(viewport, event)
        QApplication.processEvents()


def deep_point(mask: np.ndarray) -> tuple[int, int]:
    """(x, y) of the pixel deepest inside an HxW bool mask (the image border counts as outside)."""
    padded = np.pad(mask.astype(np.uint8), 1)
    distance = cv2.distanceTransform(padded, cv2.DIST_L2, 5)
    row, col = np.unravel_index(int(np.argmax(distance)), padded.shape)
    return int(col) - 1, int(row) - 1


def screen_rgb(window: MainWindow) -> np.ndarray:
    """HxWx3 uint8 of what the canvas' viewport shows now."""
    image = window.canvas.viewport().grab().toImage()
    image = image.convertToFormat(image.Format.Format_RGB888)
    width, height = image.width(), image.height()
    data = np.frombuffer(image.constBits(), np.uint8, count=image.bytesPerLine() * height)
    return data.reshape(height, image.bytesPerLine())[:, : 3 * width].reshape(height, width, 3).copy()


def shown_at(window: MainWindow, screen: np.ndarray, x: float, y: float) -> np.ndarray:
    """The RGB the screen shows at image pixel (x, y) (its centre)."""
    point = widget_point(window, x + 0.5, y + 0.5)
    return screen[int(point.y()), int(point.x())].astype(int)

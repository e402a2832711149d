"""What the window looks like is kept between runs (QSettings): its size and position, the docks'
widths and places, and the view options (overlay, heatmap, opacity, outlines, brush radius). The
data set's own state (decisions, edits, settings) is in the session, not here."""

from __future__ import annotations

import contextlib

from PySide6.QtCore import QByteArray, QSettings
from PySide6.QtWidgets import QMainWindow

from .review_state import BRUSH_RANGE, Heatmap, Overlay, ReviewState

GEOMETRY, DOCKS = "window/geometry", "window/docks"
VIEW = "view/"


def remember(window: QMainWindow, state: ReviewState, settings: QSettings) -> None:
    """Keep the window's layout and view options."""
    settings.setValue(GEOMETRY, window.saveGeometry())
    settings.setValue(DOCKS, window.saveState())
    for name, value in (("overlay", state.overlay.value), ("heatmap", state.heatmap.value),
                        ("opacity", state.opacity), ("outlines", state.outlines), ("brush", state.brush_size)):
        settings.setValue(VIEW + name, value)
    settings.sync()


def _restore_bytes(settings: QSettings, key: str, apply) -> None:
    value = settings.value(key)
    if isinstance(value, QByteArray | bytes):
        apply(QByteArray(value))


def restore_docks(window: QMainWindow, settings: QSettings) -> None:
    """The docks' places and widths (call once the window is shown: they apply to its layout)."""
    _restore_bytes(settings, DOCKS, window.restoreState)


def restore(window: QMainWindow, state: ReviewState, settings: QSettings) -> None:
    """Bring back the window's size and the view options :func:`remember` kept (the docks: see
    :func:`restore_docks`); a value that does not fit (another version) is left out."""
    _restore_bytes(settings, GEOMETRY, window.restoreGeometry)
    view = {name: settings.value(VIEW + name) for name in ("overlay", "heatmap", "opacity", "outlines", "brush")}
    with contextlib.suppress(ValueError, TypeError):
        if view["overlay"] is not None:
            state.set_overlay(Overlay(view["overlay"]))
    with contextlib.suppress(ValueError, TypeError):
        if view["heatmap"] is not None:
            state.set_heatmap(Heatmap(view["heatmap"]))
    with contextlib.suppress(ValueError, TypeError):
        if view["opacity"] is not None:
            state.set_opacity(min(max(float(view["opacity"]), 0.0), 1.0))
    if view["outlines"] is not None:
        state.set_outlines(str(view["outlines"]).lower() in ("true", "1"))
    with contextlib.suppress(ValueError, TypeError):
        if view["brush"] is not None:
            state.set_brush_size(min(max(int(view["brush"]), BRUSH_RANGE[0]), BRUSH_RANGE[1]))

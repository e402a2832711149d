"""Issue 11 item 5: the image and its baseline are on screen at once while the image refines; the split
view (S, View menu) shows baseline | final on either side of a divider the user drags (real window,
offscreen, real MobileSAM, real key and mouse events; colours read back from the screen)."""

from __future__ import annotations

import cv2
import numpy as np
from conftest import DEMO
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication
from review_aids_helpers import REFINE_TIMEOUT_MS, deep_point, drag, key, make_window, screen_rgb, shown_at

from uosam_core.image_io import read_image, read_labels
from uosam_gui import layers
from uosam_gui.review_state import Heatmap, Overlay
from uosam_gui.split_view import blend

TOLERANCE = 12  # per channel, 0..255: the screen's scaling and blending against the computed colour


def expected(window, photo: np.ndarray, labels: np.ndarray, x: int, y: int) -> np.ndarray:
    """The colour the photo with one label map over it has at pixel (x, y)."""
    rgba = layers.label_colors(window.classes, labels[y: y + 1, x: x + 1])
    return blend(photo[y: y + 1, x: x + 1], rgba, window.state.opacity)[0, 0].astype(int)


def interior(mask: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Pixels of ``mask`` at least 4 pixels from its edge and inside ``keep`` (both HxW bool), below
    the top sixth of the image (where the "baseline" / "final" captions sit beside the divider)."""
    eroded = cv2.erode(mask.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    eroded[: mask.shape[0] // 6] = False
    return eroded & keep


def test_baseline_shown_at_once_then_split_view_with_a_draggable_divider(qtbot, tmp_path, engine):
    window = make_window(qtbot, tmp_path, engine)
    photo = read_image(DEMO / "images" / "coco_00.png")
    baseline, _ = read_labels(DEMO / "labels" / "coco_00.png")
    height, width = baseline.shape

    # the photo and its baseline are on screen as soon as the data set is open, while it refines
    assert window.open_dataset(DEMO / "images", DEMO / "labels", tmp_path / "out")
    QApplication.processEvents()
    assert window.document is None and window.controller.busy
    screen = screen_rgb(window)
    x, y = deep_point(baseline == np.bincount(baseline.ravel()).argmax())
    assert np.abs(shown_at(window, screen, x, y) - expected(window, photo, baseline, x, y)).max() <= TOLERANCE
    assert screen.mean() > 30, "the canvas is black while the image refines"

    qtbot.waitUntil(lambda: window.document is not None, timeout=REFINE_TIMEOUT_MS)
    document = window.document
    final = document.labels
    changed = final != baseline
    assert changed.any()

    # S turns the split view on (also in the View menu): divider in the middle, baseline left of it
    key(window, Qt.Key.Key_S)
    split = window.review_keys.split
    assert split.enabled and window.review_keys.split_action.isChecked()
    assert split.divider.isVisible() and abs(split.position - width / 2) < 1
    assert window.state.overlay == Overlay.FINAL and window.state.heatmap == Heatmap.NONE
    screen = screen_rgb(window)
    columns = np.arange(width)[None, :]
    for side, labels, keep in (("left", baseline, columns < width / 2 - 6), ("right", final, columns > width / 2 + 6)):
        candidates = interior(changed, keep)
        assert candidates.any(), f"no changed pixel on the {side}"
        x, y = deep_point(candidates)
        base_colour, final_colour = (expected(window, photo, m, x, y) for m in (baseline, final))
        assert np.abs(base_colour - final_colour).max() > 3 * TOLERANCE  # the two sides can be told apart
        want = expected(window, photo, labels, x, y)
        assert np.abs(shown_at(window, screen, x, y) - want).max() <= TOLERANCE, side

    # drag the divider with the mouse to a quarter of the image: a changed pixel between a quarter and
    # the half now shows the final labels
    middle = interior(changed, (columns > width / 4 + 6) & (columns < width / 2 - 6))
    assert middle.any()
    mx, my = deep_point(middle)
    drag(window, [(split.position, height / 2), (split.position - 5, height / 2), (width / 4, height / 2)])
    assert abs(split.position - width / 4) < 2
    screen = screen_rgb(window)
    assert np.abs(shown_at(window, screen, mx, my) - expected(window, photo, final, mx, my)).max() <= TOLERANCE
    assert window.document is document and window.selected == -1  # the drag picked no object

    # S again turns the split view off: left of the divider's last place the final labels show again
    key(window, Qt.Key.Key_S)
    assert not split.enabled and not split.divider.isVisible() and not split.left_item.isVisible()
    assert not window.review_keys.split_action.isChecked()
    left = interior(changed, columns < width / 4 - 6)
    assert left.any()
    x, y = deep_point(left)
    screen = screen_rgb(window)
    assert np.abs(shown_at(window, screen, x, y) - expected(window, photo, final, x, y)).max() <= TOLERANCE

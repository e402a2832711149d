"""Issue 8: the review workflow under a user's hands, through real mouse and key events on the real
window (offscreen), the real MobileSAM checkpoint and worker threads, on the demo data."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import DEMO
from PySide6.QtCore import QPointF, QSettings, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from uosam_core.image_io import read_image, read_labels
from uosam_gui.controller import RefineController
from uosam_gui.main_window import MainWindow
from uosam_gui.review_state import Heatmap, Tool

REFINE_TIMEOUT_MS = 240_000


# ------------------------------------------------------------------ helpers: a user's hands
def make_window(qtbot, tmp_path: Path, settings_file: str = "settings.ini") -> MainWindow:
    settings = QSettings(str(tmp_path / settings_file), QSettings.Format.IniFormat)
    window = MainWindow(RefineController(device="cpu"), settings)
    qtbot.addWidget(window)
    window.show()
    window.activateWindow()
    qtbot.waitExposed(window)
    return window


def open_and_wait(qtbot, window: MainWindow, out: Path, images: Path = DEMO / "images",
                  labels: Path = DEMO / "labels") -> None:
    assert window.open_dataset(images, labels, out)
    qtbot.waitUntil(lambda: window.document is not None, timeout=REFINE_TIMEOUT_MS)


def deep_point(mask: np.ndarray) -> tuple[float, float]:
    """(x, y) of the pixel deepest inside a bool mask (the image border counts as outside)."""
    padded = np.pad(mask.astype(np.uint8), 1)
    distance = cv2.distanceTransform(padded, cv2.DIST_L2, 5)
    row, col = np.unravel_index(int(np.argmax(distance)), padded.shape)
    return float(col) - 0.5, float(row) - 0.5


def widget_point(window: MainWindow, x: float, y: float):
    """Image pixel (x, y) as a position on the canvas widget."""
    canvas = window.canvas
    return canvas.mapFromScene(canvas.view.mapViewToScene(QPointF(x, y)))


def click(window: MainWindow, x: float, y: float, button=Qt.MouseButton.LeftButton,
          modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    QTest.mouseClick(window.canvas.viewport(), button, modifiers, widget_point(window, x, y))


def drag(window: MainWindow, points: list[tuple[float, float]]) -> None:
    """Press the left button at the first point, move through the others, release at the last."""
    viewport = window.canvas.viewport()
    positions = [QPointF(widget_point(window, x, y)) for x, y in points]
    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    events = [QMouseEvent(QMouseEvent.Type.MouseButtonPress, positions[0], viewport.mapToGlobal(positions[0]),
                          left, left, Qt.KeyboardModifier.NoModifier)]
    for position in positions[1:]:
        events.append(QMouseEvent(QMouseEvent.Type.MouseMove, position, viewport.mapToGlobal(position), none, left,
                                  Qt.KeyboardModifier.NoModifier))
    events.append(QMouseEvent(QMouseEvent.Type.MouseButtonRelease, positions[-1],
                              viewport.mapToGlobal(positions[-1]), left, none, Qt.KeyboardModifier.NoModifier))
    for event in events:
        QApplication.sendEvent(viewport, event)
        QApplication.processEvents()


def key(window: MainWindow, which, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    QTest.keyClick(window.canvas, which, modifiers)
    QApplication.processEvents()


def interior_point(window: MainWindow, avoid: list[tuple[float, float]]) -> tuple[float, float]:
    """A pixel inside the yellow box, at least 12 screen pixels from its edges and from ``avoid``."""
    x0, y0, x1, y1 = window.canvas.box_item.as_box()
    margin = window.canvas.screen_to_image(12)
    xs, ys = np.meshgrid(np.arange(x0 + margin, x1 - margin), np.arange(y0 + margin, y1 - margin))
    candidates = np.stack([xs.ravel(), ys.ravel()], axis=1) + 0.5
    distances = np.min([np.hypot(*(candidates - np.asarray(p)).T) for p in avoid], axis=0)
    assert (distances > margin).any(), "the box is too small for a click inside it"
    best = candidates[int(np.argmax(distances))]
    return float(best[0]), float(best[1])


def used_mask(obj) -> np.ndarray:
    """HxW bool: the pixels an object contributes (refined mask if used, else its baseline)."""
    return obj.step2_mask if obj.uses_refined else obj.baseline_mask


def select_by_click(qtbot, window: MainWindow, index: int) -> None:
    """Prompt tool, nothing selected: click deep inside the object's used mask."""
    obj = window.document.objects[index]
    used = obj.step2_mask if obj.uses_refined else obj.baseline_mask
    others = [o for o in window.document.objects if o.index != index]
    for other in others:  # a smaller object under the cursor would win the pick
        if other.area < obj.area:
            used = used & ~(other.step2_mask if other.uses_refined else other.baseline_mask)
    click(window, *deep_point(used))
    qtbot.waitUntil(lambda: window.selected == index, timeout=5_000)


# ------------------------------------------------------------------ items 1, 2, 6, 11
def test_prompt_editing_inside_the_box_tools_and_next_image(qtbot, tmp_path):
    window = make_window(qtbot, tmp_path)
    open_and_wait(qtbot, window, tmp_path / "out")
    document, canvas = window.document, window.canvas
    assert document.key == "coco_00"

    # item 11: the user turns the heatmap off; selecting objects (by clicking them) keeps it off
    window.heatmap_combo.setCurrentText("none")
    assert window.state.heatmap == Heatmap.NONE
    select_by_click(qtbot, window, 0)
    assert not canvas.heatmap_item.isVisible() and window.heatmap_combo.currentText() == "none"
    assert canvas.box_item is not None and len(canvas.point_items) == 2

    # item 1: a left click inside the yellow box adds a positive point; only that object is decoded
    obj = document.objects[0]
    inside = interior_point(window, [*obj.prompts.positive, *obj.prompts.negative])
    with qtbot.waitSignal(window.controller.redecoded, timeout=60_000):
        click(window, *inside)
    assert document.objects[0].prompts.positive[-1] == pytest.approx(inside, abs=1.0)
    assert len(document.objects[0].prompts.positive) == len(obj.prompts.positive) + 1
    # ... a right click inside it a negative one, Ctrl+click on it removes it again
    second = interior_point(window, [*document.objects[0].prompts.positive, *document.objects[0].prompts.negative])
    with qtbot.waitSignal(window.controller.redecoded, timeout=60_000):
        click(window, *second, Qt.MouseButton.RightButton)
    assert document.objects[0].prompts.negative[-1] == pytest.approx(second, abs=1.0)
    with qtbot.waitSignal(window.controller.redecoded, timeout=60_000):
        click(window, *second, modifiers=Qt.KeyboardModifier.ControlModifier)
    assert len(document.objects[0].prompts.negative) == len(obj.prompts.negative)

    # item 1: the brush paints inside the box and never moves it; fill works inside it
    box_before = canvas.box_item.as_box()
    prompts_before = document.objects[0].prompts
    window.paint_class_combo.setCurrentIndex(window.paint_class_combo.findData(9))
    key(window, Qt.Key.Key_B)
    assert window.state.tool == Tool.BRUSH
    start = interior_point(window, [*prompts_before.positive, *prompts_before.negative])
    drag(window, [start, (start[0] + 4, start[1]), (start[0] + 8, start[1] + 2)])
    qtbot.waitUntil(lambda: document.labels[int(start[1]), int(start[0])] == 9, timeout=5_000)
    assert canvas.box_item.as_box() == pytest.approx(box_before)
    assert document.objects[0].prompts == prompts_before and not window.controller._redecode_tokens
    key(window, Qt.Key.Key_F)
    window.paint_class_combo.setCurrentIndex(window.paint_class_combo.findData(26))
    far = interior_point(window, [*prompts_before.positive, start, (start[0] + 8, start[1] + 2)])
    click(window, *far)
    assert document.labels[int(far[1]), int(far[0])] == 26

    # Esc deselects; a click beside the image deselects too
    key(window, Qt.Key.Key_V)
    key(window, Qt.Key.Key_Escape)
    assert window.selected == -1 and canvas.box_item is None and not canvas.point_items
    select_by_click(qtbot, window, 1)

    # a left click on another object outside the selected object's box selects that object and adds
    # no point to the selected one (a user trial found the point added)
    prompts_1 = document.objects[1].prompts
    x0, y0, x1, y1 = canvas.box_item.as_box()
    rows, cols = np.indices(document.labels.shape)
    near_box = (cols >= x0 - 3) & (cols <= x1 + 3) & (rows >= y0 - 3) & (rows <= y1 + 3)
    target = used_mask(document.objects[0]) & ~near_box
    for other in document.objects:
        if other.area < document.objects[0].area:
            target &= ~used_mask(other)
    assert target.any(), "object 0 lies wholly inside object 1's box"
    click(window, *deep_point(target))
    qtbot.waitUntil(lambda: window.selected == 0, timeout=5_000)
    assert document.objects[1].prompts == prompts_1 and not window.controller._redecode_tokens
    key(window, Qt.Key.Key_Escape)
    select_by_click(qtbot, window, 1)
    (_, right), _ = canvas.view.viewRange()
    width = document.image.shape[1]
    assert right > width + 2, "the canvas shows no margin beside the image"
    click(window, (width + right) / 2, 10.0)  # on the dark canvas beside the image
    assert window.selected == -1 and canvas.box_item is None

    # item 2: after N no stale points, box, step-2 box or class
    select_by_click(qtbot, window, 0)
    assert window.object_panel.class_combo.isEnabled()
    qtbot.waitUntil(lambda: "coco_03" in window.controller.documents, timeout=REFINE_TIMEOUT_MS)  # look-ahead
    QTest.mouseMove(canvas.viewport(), widget_point(window, 20.5, 20.5))
    qtbot.waitUntil(lambda: window.hover_label.text().startswith("x 20, y 20"), timeout=5_000)
    key(window, Qt.Key.Key_N)
    assert window.document is not None and window.document.key == "coco_03"
    assert window.hover_label.text() == ""  # no read-out of the previous image's pixel
    assert canvas.box_item is None and canvas.step2_item is None and not canvas.point_items
    assert window.selected == -1 and not window.object_panel.class_combo.isEnabled()
    assert window.object_panel.class_combo.currentText() == ""
    assert window.object_panel.table.rowCount() == len(window.document.objects)

    # item 6: another image that is not refined yet: its photo and baseline at once, not the old ones
    coco_07 = window.file_panel.items["coco_07"]
    rect = window.file_panel.list.visualItemRect(coco_07)
    QTest.mouseClick(window.file_panel.list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert window.session.current == "coco_07" and window.document is None
    np.testing.assert_array_equal(canvas.image_item.image, read_image(DEMO / "images" / "coco_07.png"))
    baseline = read_labels(DEMO / "labels" / "coco_07.png")[0]
    np.testing.assert_array_equal(canvas.overlay_item.image, window.classes.rgba(baseline))
    assert window.object_panel.table.rowCount() == 0
    qtbot.waitUntil(lambda: window.document is not None, timeout=REFINE_TIMEOUT_MS)
    assert window.document.key == "coco_07"
    np.testing.assert_array_equal(canvas.overlay_item.image, window.classes.rgba(window.document.labels))
    window.close()


# ------------------------------------------------------------------ items 4, 5, 7, 10 in the window
def test_refine_again_recent_list_and_unwritable_output(qtbot, tmp_path):
    asked: list[str] = []
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")

    # item 5: an error stays when information follows it
    window = make_window(qtbot, tmp_path)
    assert not window.open_dataset(tmp_path / "missing-images", DEMO / "labels", tmp_path / "out0")
    error = window.notifier.standing
    assert error is not None and "missing-images" in error[1] and window.banner.isVisible()
    window.notify("model vit_t loaded")
    assert window.notifier.standing == error and window.banner.isVisible()

    # item 4: an output folder that cannot be written is reported and another one offered
    out = tmp_path / "out"
    window.reviewer.ask_folder = lambda problem: (asked.append(problem), out)[1]
    open_and_wait(qtbot, window, blocked / "out")
    assert len(asked) == 1 and str(blocked / "out") in asked[0]
    assert window.session.out == out and (out / "uosam-session.json").is_file()
    assert str(blocked / "out") in window.notifier.standing[1]
    document = window.document
    labels_before = document.labels.copy()

    # item 10: Image > Refine again, then Esc: the previous result stays on screen and in the cache
    window.menu_actions.rerun.trigger()
    assert window.controller.busy and window.document is document
    key(window, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not window.controller.busy, timeout=REFINE_TIMEOUT_MS)
    qtbot.wait(200)
    assert window.document is document and window.controller.documents["coco_00"] is document
    np.testing.assert_array_equal(window.canvas.overlay_item.image, window.classes.rgba(labels_before))
    # without Esc the new result replaces it
    window.menu_actions.rerun.trigger()
    qtbot.waitUntil(lambda: window.document is not document, timeout=REFINE_TIMEOUT_MS)
    document = window.document
    np.testing.assert_array_equal(document.labels, labels_before)

    # item 4: the output folder becomes unwritable mid-session: a stroke is kept in memory and said so
    shutil.move(out, tmp_path / "out-away")
    out.write_text("now a file")
    window.paint_class_combo.setCurrentIndex(window.paint_class_combo.findData(9))
    key(window, Qt.Key.Key_B)
    x, y = deep_point(document.objects[0].baseline_mask)
    drag(window, [(x, y), (x + 3, y), (x + 6, y)])
    qtbot.waitUntil(lambda: document.labels[int(y), int(x)] == 9, timeout=5_000)
    qtbot.waitUntil(lambda: "coco_00" in window.reviewer.unsaved, timeout=10_000)
    level, text = window.notifier.standing
    assert "coco_00" in text and str(out) in text and "memory" in text and window.banner.isVisible()
    window.notify("some information")
    assert window.notifier.standing == (level, text)
    # N still works; the edited image stays in memory
    key(window, Qt.Key.Key_N)
    assert window.session.current == "coco_03"
    # Ctrl+Q asks before losing the edits; "no" keeps the window and the edits
    window.reviewer.confirm = lambda question: (asked.append(question), False)[1]
    key(window, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)
    assert window.isVisible() and "coco_00" in asked[-1]
    assert (window.controller.documents["coco_00"].labels[int(y), int(x)]) == 9
    # the folder comes back: going back to the image saves its edits; Ctrl+Q closes without asking
    out.unlink()
    shutil.move(tmp_path / "out-away", out)
    key(window, Qt.Key.Key_P)
    assert window.document.key == "coco_00" and not window.reviewer.unsaved
    # ... and the standing save error goes with it (a user trial saw it stay after the save worked)
    assert window.notifier.standing is None and not window.banner.isVisible()
    questions = len(asked)
    key(window, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)
    assert not window.isVisible() and len(asked) == questions
    assert (out / ".uosam" / "edits" / "coco_00.npz").is_file()

    # item 7: File > Open recent lists whole paths after the second launch (a real INI QSettings)
    second = make_window(qtbot, tmp_path)
    assert [a.text() for a in second.menu_actions.recent_menu.actions()] == [str(out / "uosam-session.json")]
    open_and_wait(qtbot, second, tmp_path / "out2")
    assert [a.text() for a in second.menu_actions.recent_menu.actions()] == [
        str(tmp_path / "out2" / "uosam-session.json"), str(out / "uosam-session.json")]
    second.close()

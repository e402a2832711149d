"""The real window, offscreen, on the demo data with the real MobileSAM checkpoint and worker thread."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import DEMO
from PIL import Image
from PySide6.QtCore import QSettings, QTimer

from uosam_core.image_io import read_labels
from uosam_gui.controller import RefineController
from uosam_gui.layers import edges
from uosam_gui.main_window import MainWindow
from uosam_gui.review_state import Tool

REFINE_TIMEOUT_MS = 240_000


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def make_window(qtbot, tmp_path: Path, **controller_options) -> MainWindow:
    controller = RefineController(device="cpu", **controller_options)
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(controller, settings)
    qtbot.addWidget(window)
    window.show()
    return window


def open_and_wait(qtbot, window: MainWindow, images: Path, labels: Path, out: Path) -> None:
    assert window.open_dataset(images, labels, out)
    qtbot.waitUntil(lambda: window.document is not None, timeout=REFINE_TIMEOUT_MS)


def point_inside(mask: np.ndarray) -> tuple[float, float]:
    """A pixel deep inside a mask (the maximum of its distance transform), as (x, y)."""
    import cv2

    distance = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5)
    row, col = np.unravel_index(int(np.argmax(distance)), mask.shape)
    return float(col) + 0.5, float(row) + 0.5


def test_review_save_reopen_export(qtbot, tmp_path):
    inputs_before = digest(DEMO / "labels") | digest(DEMO / "images")
    out = tmp_path / "out"
    window = make_window(qtbot, tmp_path)
    open_and_wait(qtbot, window, DEMO / "images", DEMO / "labels", out)
    document = window.document
    assert document.key == "coco_00"
    assert window.session.records["coco_00"].state == "refined"
    assert len(document.objects) >= 3
    np.testing.assert_array_equal(window.canvas.overlay_item.image, window.classes.rgba(document.labels))

    # select the largest object: its LCM heatmap, points and boxes are shown
    window.object_panel.select(0)
    assert window.selected == 0
    target = document.objects[0]
    np.testing.assert_array_equal(window.canvas.heatmap_item.image, target.lcm)
    positives = [item for item, positive in window.canvas.point_items if positive]
    assert len(positives) == 1 and window.canvas.box_item is not None and window.canvas.step2_item is not None
    assert np.allclose(tuple(positives[0].pos()), target.prompts.positive[0])

    # move its positive point into another object and drop the box: only object 0 is decoded again
    other_objects = [obj.step2_mask.copy() for obj in document.objects[1:]]
    mask_before = target.step2_mask.copy()
    destination = point_inside(document.objects[2].baseline_mask)
    window.canvas.view.removeItem(window.canvas.box_item)
    window.canvas.box_item = None
    with qtbot.waitSignal(window.controller.redecoded, timeout=60_000):
        positives[0].setPos(*destination)
        positives[0].sigPositionChangeFinished.emit(positives[0])
    moved = document.objects[0]
    assert moved.edited and moved.prompts.positive[0] == pytest.approx(destination)
    assert not np.array_equal(moved.step2_mask, mask_before)
    assert moved.step2_mask[int(destination[1]), int(destination[0])]
    for before, obj in zip(other_objects, document.objects[1:]):
        np.testing.assert_array_equal(before, obj.step2_mask)
    layer = window.canvas.shown_layers[window.canvas.selection_item]
    x0, y0, width, height = layer.rect
    shown = np.zeros(moved.step2_mask.shape, bool)
    shown[y0:y0 + height, x0:x0 + width] = layer.data[..., 3] > 0
    np.testing.assert_array_equal(shown, moved.step2_mask | edges(moved.step2_mask) | edges(moved.baseline_mask))

    # reject another object whose refined mask is in use: the labels change; undo restores them
    candidates = [obj.index for obj in document.objects[1:]
                  if obj.uses_refined and (obj.step2_mask != obj.baseline_mask).any()]
    assert candidates, "the demo image should have an accepted object besides object 0"
    rejected = candidates[0]
    window.object_panel.select(rejected)
    labels_before = document.labels.copy()
    window.editor.decide("reject")
    assert document.objects[rejected].decision == "reject" and not document.objects[rejected].uses_refined
    assert not np.array_equal(document.labels, labels_before)
    window.editor.undo()
    assert document.objects[rejected].decision == "auto"
    np.testing.assert_array_equal(document.labels, labels_before)
    window.editor.redo()
    assert document.objects[rejected].decision == "reject"

    # a brush stroke writes class ids straight into the label map
    stroke = np.zeros(document.labels.shape, bool)
    stroke[5:15, 5:25] = True
    window.paint_class_combo.setCurrentIndex(window.paint_class_combo.findData(9))
    window.canvas.strokeFinished.emit(stroke, Tool.BRUSH)
    qtbot.waitUntil(lambda: (document.labels[stroke] == 9).all())  # painted in the next event-loop turn
    qtbot.waitUntil(lambda: (window.canvas.overlay_item.image[5, 5] == window.classes.rgba(np.array([9]))[0]).all())
    np.testing.assert_array_equal(window.canvas.overlay_item.image, window.classes.rgba(document.labels))

    saved_path = window.reviewer.save_current()
    saved, label_format = read_labels(saved_path)
    _, input_format = read_labels(DEMO / "labels" / "coco_00.png")
    np.testing.assert_array_equal(saved, document.labels)
    assert label_format == input_format
    shown_labels = document.labels.copy()
    shown_objects = [(obj.decision, obj.edited, obj.class_id) for obj in document.objects]
    moved_mask = moved.step2_mask.copy()
    window.close()
    assert json.loads((out / "uosam-session.json").read_text())["records"]["coco_00"]["state"] == "edited"

    # reopen: the same image comes back in the same state
    reopened = make_window(qtbot, tmp_path)
    open_and_wait(qtbot, reopened, DEMO / "images", DEMO / "labels", out)
    again = reopened.document
    assert again.key == "coco_00"
    np.testing.assert_array_equal(again.labels, shown_labels)
    assert [(obj.decision, obj.edited, obj.class_id) for obj in again.objects] == shown_objects
    np.testing.assert_array_equal(again.objects[0].step2_mask, moved_mask)

    # export: the reviewed image as shown, the others as their baseline; a log of every decision
    with qtbot.waitSignal(reopened.controller.exportFinished, timeout=REFINE_TIMEOUT_MS):
        reopened.exporter.export(tmp_path / "export", "baseline")
    log = reopened.exporter.last_log
    assert log is not None and log["complete"] and not log["skipped"]
    np.testing.assert_array_equal(read_labels(tmp_path / "export" / "coco_00.png")[0], shown_labels)
    for key in ("coco_03", "coco_07"):
        np.testing.assert_array_equal(read_labels(tmp_path / "export" / f"{key}.png")[0],
                                      read_labels(DEMO / "labels" / f"{key}.png")[0])
    written_log = json.loads((tmp_path / "export" / "uosam-export-log.json").read_text())
    entries = {entry["key"]: entry for entry in written_log["entries"]}
    assert entries["coco_00"]["source"] == "edited" and entries["coco_03"]["source"] == "baseline (not reviewed)"
    logged = {obj["index"]: obj for obj in entries["coco_00"]["objects"]}
    assert logged[0]["edited_prompts"]["positive"][0] == pytest.approx(list(destination))
    assert logged[rejected]["decision"] == "reject" and logged[rejected]["used"] == "baseline"
    assert entries["coco_00"]["pixel_edits"] == int(stroke.sum())
    reopened.close()
    assert digest(DEMO / "labels") | digest(DEMO / "images") == inputs_before


def test_event_loop_never_stalls_during_refinement(qtbot, tmp_path):
    window = make_window(qtbot, tmp_path)
    # measured from a loaded model on: the model load on its own thread (imports, hashing) still holds the
    # interpreter for ~0.2 s once before the first image (a known issue, see the session note)
    with qtbot.waitSignal(window.controller.modelReady, timeout=REFINE_TIMEOUT_MS):
        window.controller.load_model()
    ticks: list[float] = []
    timer = QTimer(interval=10)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    qtbot.wait(50)
    open_and_wait(qtbot, window, DEMO / "images", DEMO / "labels", tmp_path / "out")
    qtbot.waitUntil(lambda: not window.controller.busy, timeout=REFINE_TIMEOUT_MS)  # the prefetch too
    timer.stop()
    gaps = np.diff(ticks)
    print(f"longest event-loop gap during refinement: {1000 * gaps.max():.0f} ms over {len(ticks)} ticks")
    assert len(ticks) > 100 and "coco_03" in window.controller.documents
    assert gaps.max() <= 0.100, f"event loop stalled {1000 * gaps.max():.0f} ms"
    window.close()


def test_bad_files_and_missing_checkpoint_are_reported_not_fatal(qtbot, tmp_path):
    images, labels = tmp_path / "images", tmp_path / "labels"
    shutil.copytree(DEMO / "images", images)
    shutil.copytree(DEMO / "labels", labels)
    (labels / "coco_03.png").write_bytes((DEMO / "labels" / "coco_03.png").read_bytes()[:200])  # truncated
    (images / "orphan.png").write_bytes((DEMO / "images" / "coco_07.png").read_bytes())  # no label
    window = make_window(qtbot, tmp_path)
    open_and_wait(qtbot, window, images, labels, tmp_path / "out")
    assert window.session.records["orphan"].state == "error"
    with qtbot.waitSignal(window.controller.failed, timeout=REFINE_TIMEOUT_MS):
        window.reviewer.show_image("coco_03")
    record = window.session.records["coco_03"]
    assert record.state == "error" and "coco_03.png" in record.error and "truncated" in record.error
    assert any("coco_03.png" in message and message.startswith("error") for message in window.messages)
    window.reviewer.show_image("coco_00")  # the app goes on
    assert window.document is not None and window.document.key == "coco_00"
    window.close()

    broken = make_window(qtbot, tmp_path, checkpoint=tmp_path / "missing.pt")
    with qtbot.waitSignal(broken.controller.failed, timeout=60_000):
        broken.controller.load_model()
    assert "missing.pt" in broken.messages[-1] and broken.messages[-1].startswith("error")
    assert broken.isVisible()
    broken.close()


def test_switching_images_drops_the_stale_refinement(qtbot, tmp_path):
    window = make_window(qtbot, tmp_path)
    shown: list[str] = []
    window.state.documentChanged.connect(lambda: window.document is not None and shown.append(window.document.key))
    assert window.open_dataset(DEMO / "images", DEMO / "labels", tmp_path / "out")  # starts coco_00
    window.reviewer.show_image("coco_07")  # before coco_00 is done: its run is cancelled or its result kept aside
    qtbot.waitUntil(lambda: window.document is not None, timeout=REFINE_TIMEOUT_MS)
    qtbot.waitUntil(lambda: not window.controller.busy, timeout=REFINE_TIMEOUT_MS)
    assert shown == ["coco_07"] and window.document.key == "coco_07"
    assert window.session.current == "coco_07"
    window.close()


def test_screenshot_command_renders_the_refined_demo(tmp_path):
    shot = tmp_path / "window.png"
    completed = subprocess.run(
        [sys.executable, str(DEMO.parent.parent / "main.py"), "--demo", "--out", str(tmp_path / "session"),
         "--screenshot", str(shot)], capture_output=True, text=True, timeout=600,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": str(tmp_path / "config")})
    assert completed.returncode == 0, completed.stderr[-2000:]
    with Image.open(shot) as image:
        pixels = np.asarray(image.convert("RGB"))
    assert pixels.shape[0] >= 600 and pixels.shape[1] >= 1000
    assert pixels.std() > 20 and len(np.unique(pixels.reshape(-1, 3), axis=0)) > 1000
    session = json.loads((tmp_path / "session" / "uosam-session.json").read_text())
    assert session["records"]["coco_00"]["state"] == "refined"


def test_views_tools_and_mouse_prompts_on_the_real_canvas(qtbot, tmp_path):
    from PySide6.QtCore import QPointF, Qt
    from PySide6.QtTest import QTest

    window = make_window(qtbot, tmp_path)
    open_and_wait(qtbot, window, DEMO / "images", DEMO / "labels", tmp_path / "out")
    document, canvas = window.document, window.canvas
    for index in range(window.overlay_combo.count()):  # every overlay, heatmap and the GRO outlines draw
        window.overlay_combo.setCurrentIndex(index)
    window.heatmap_combo.setCurrentText("GRO vote share")
    np.testing.assert_array_equal(canvas.heatmap_item.image, document.result.gro.vote_share)
    window.outline_check.setChecked(True)
    assert canvas.outline_item.isVisible() and (canvas.outline_item.image[..., 3] > 0).any()
    window.overlay_combo.setCurrentText("difference")
    changed = document.labels != document.result.baseline
    np.testing.assert_array_equal(canvas.overlay_item.image[..., 3] > 0, changed & (document.labels != 255))
    window.show_help()
    assert window.help_dialog.isVisible()
    window.help_dialog.close()

    def widget_point(x: float, y: float):
        scene = canvas.view.mapViewToScene(QPointF(x, y))
        return canvas.mapFromScene(scene)

    # right click on the image adds a negative point to the selected object, through real mouse events
    window.object_panel.select(0)
    negatives_before = len(document.objects[0].prompts.negative)
    x, y = point_inside(~document.objects[0].baseline_mask)
    with qtbot.waitSignal(window.controller.redecoded, timeout=60_000):
        QTest.mouseClick(canvas.viewport(), Qt.MouseButton.RightButton, pos=widget_point(x, y))
    assert len(document.objects[0].prompts.negative) == negatives_before + 1
    assert document.objects[0].prompts.negative[-1] == pytest.approx((x, y), abs=1.5)
    # Ctrl+click next to it removes it again
    with qtbot.waitSignal(window.controller.redecoded, timeout=60_000):
        QTest.mouseClick(canvas.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier,
                         widget_point(x + 2, y))
    assert len(document.objects[0].prompts.negative) == negatives_before

    # the fill tool through a real click, then undo
    window.tool_combo.setCurrentText("fill")
    window.paint_class_combo.setCurrentIndex(window.paint_class_combo.findData(26))
    fx, fy = point_inside(document.labels == document.labels[document.labels.shape[0] // 2, 10])
    QTest.mouseClick(canvas.viewport(), Qt.MouseButton.LeftButton, pos=widget_point(fx, fy))
    assert document.labels[int(fy), int(fx)] == 26
    window.editor.undo()
    assert document.labels[int(fy), int(fx)] != 26

    # hovering a pixel names its class
    QTest.mouseMove(canvas.viewport(), widget_point(fx, fy))
    qtbot.waitUntil(lambda: window.hover_label.text().startswith(f"x {int(fx)}, y {int(fy)}"), timeout=5_000)
    assert window.classes.name(int(document.labels[int(fy), int(fx)])) in window.hover_label.text()

    # next / previous image follow the list
    window.menu_actions.next.trigger()
    assert window.session.current == "coco_03"
    window.menu_actions.previous.trigger()
    assert window.session.current == "coco_00" and window.document is document
    window.close()

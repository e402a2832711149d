"""Findings of the eleventh user trial, through the real window (offscreen, real MobileSAM with the GRO
off, demo images, real mouse and keys): selecting an object or a message banner never moves the image
under the pointer; the risk figure follows a prompt edit; the pixel read-out follows an edit under the
pointer; the progress bar stops saying "ahead" once the image it refines is shown. (Z zooming to a
scattered class's object: tests/test_gui_keyboard.py.)"""

from __future__ import annotations

import numpy as np
from conftest import DEMO
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication
from review_aids_helpers import REFINE_TIMEOUT_MS, deep_point, key, make_window, widget_point
from test_gui_review import click, interior_point, select_by_click

from uosam_core.config import RefineConfig
from uosam_core.pipeline import Refiner
from uosam_gui.file_panel import risk_text
from uosam_gui.notifications import Level


def opened(qtbot, tmp_path, engine, config=None):
    """The real window on the demo, its first image refined and shown."""
    window = make_window(qtbot, tmp_path, engine, **({} if config is None else {"config": config}))
    assert window.open_dataset(DEMO / "images", DEMO / "labels", tmp_path / "out")
    qtbot.waitUntil(lambda: window.document is not None, timeout=REFINE_TIMEOUT_MS)
    return window


def image_on_screen(window) -> tuple[float, float, float, float]:
    """Where the image's corners are on the canvas (viewport pixels)."""
    height, width = window.document.image.shape[:2]
    top_left, bottom_right = widget_point(window, 0, 0), widget_point(window, width, height)
    return top_left.x(), top_left.y(), bottom_right.x(), bottom_right.y()


def settle() -> None:
    for _ in range(5):
        QApplication.processEvents()


def test_selecting_an_object_or_a_banner_never_moves_the_image(qtbot, tmp_path, engine):
    """User trial: selecting an object brought in the colour bar, which narrowed the view (the image
    shrank under the cursor); an error banner appearing or dismissed shifted it up and down."""
    window = opened(qtbot, tmp_path, engine)
    settle()
    before = image_on_screen(window)
    select_by_click(qtbot, window, 2)  # its LCM heatmap and the colour bar appear
    settle()
    assert window.canvas.colorbar.isVisible()
    assert image_on_screen(window) == before
    window.notifier.notify("a long error message " * 12, Level.ERROR)  # a banner of two lines
    settle()
    assert window.banner.isVisible() and window.banner.geometry().bottom() > 0
    assert image_on_screen(window) == before
    window.banner.dismiss_button.click()
    settle()
    assert not window.banner.isVisible() and image_on_screen(window) == before
    key(window, Qt.Key.Key_Escape)  # deselect: the colour bar goes
    settle()
    assert not window.canvas.colorbar.isVisible() and image_on_screen(window) == before


def test_the_risk_figure_follows_a_prompt_edit(qtbot, tmp_path, engine):
    """User trial: the risk stayed at its first value through prompt edits, then changed on undo (the
    worker's composition was taken without its change records)."""
    window = opened(qtbot, tmp_path, engine)
    document = window.document
    select_by_click(qtbot, window, 0)
    obj = document.objects[0]
    first_changes = list(document.result.changes)
    with qtbot.waitSignal(window.controller.redecoded, timeout=60_000):
        click(window, *interior_point(window, [*obj.prompts.positive, *obj.prompts.negative]))
    settle()
    fresh = Refiner(engine, window.controller.model.refiner.config).recompose(
        type(document.result)(baseline=document.result.baseline, objects=list(document.objects),
                              lro_labels=document.result.lro_labels, gro=document.result.gro,
                              labels=document.result.labels))
    assert document.result.changes != first_changes, "the edit changed which pixels changed"
    assert document.result.changes == fresh.changes and document.result.risk == fresh.risk
    assert window.review_keys.risk_label.text() == risk_text(fresh.risk)


def hover(window, x: float, y: float) -> None:
    """Move the pointer (no button) over image pixel (x, y)."""
    viewport = window.canvas.viewport()
    position = QPointF(widget_point(window, x, y))
    QApplication.sendEvent(viewport, QMouseEvent(QMouseEvent.Type.MouseMove, position, viewport.mapToGlobal(position),
                                                 Qt.MouseButton.NoButton, Qt.MouseButton.NoButton,
                                                 Qt.KeyboardModifier.NoModifier))
    settle()


def test_the_pixel_read_out_follows_an_edit_under_the_pointer(qtbot, tmp_path, engine):
    """User trial: after a fill the read-out still named the pixel's old class."""
    window = opened(qtbot, tmp_path, engine)
    document, classes = window.document, window.state.classes
    x, y = deep_point(document.labels == document.labels[160, 160])
    hover(window, x + 0.5, y + 0.5)
    old = int(document.labels[y, x])
    assert window.hover_label.text().startswith(f"x {x}, y {y}: {classes.name(old)}")
    new = next(c for c in range(27) if c != old)
    window.paint_class_combo.setCurrentIndex(window.paint_class_combo.findData(new))
    key(window, Qt.Key.Key_F)
    click(window, x + 0.5, y + 0.5)
    settle()
    assert int(document.labels[y, x]) == new
    assert window.hover_label.text().startswith(f"x {x}, y {y}: {classes.name(new)}"), window.hover_label.text()
    key(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # undo: the read-out follows again
    settle()
    assert window.hover_label.text().startswith(f"x {x}, y {y}: {classes.name(old)}"), window.hover_label.text()


def test_the_progress_bar_stops_saying_ahead_once_that_image_is_shown(qtbot, tmp_path, engine):
    """User trial: "ahead: 02: encoding" stayed on the progress bar while 02 was the image on screen."""
    window = opened(qtbot, tmp_path, engine, config=RefineConfig())  # with the GRO: a look-ahead takes seconds
    bar = window.progress_bar
    qtbot.waitUntil(lambda: bar.isVisible() and bar.format().startswith("ahead: coco_03"), timeout=REFINE_TIMEOUT_MS)
    key(window, Qt.Key.Key_N)
    assert window.session.current == "coco_03"
    assert not bar.isVisible() or bar.format().startswith("coco_03: "), bar.format()
    qtbot.waitUntil(lambda: window.document is not None and window.document.key == "coco_03",
                    timeout=REFINE_TIMEOUT_MS)
    assert np.array_equal(window.document.labels, window.document.result.labels)


def test_an_image_reviewed_before_a_settings_change_reopens_as_it_was_reviewed(qtbot, tmp_path, engine):
    """User trial: image 03 was reviewed (an object accepted) with IoU threshold 0.2, then 0.3 was applied
    (Apply, not Refine again); on reopen 03 was refined again with 0.3 (plain baseline shown meanwhile,
    then other verdicts): the labels no longer matched those saved. It now opens with the settings it was
    reviewed with, says so, and Refine again uses the current ones."""
    from test_gui_settings import open_settings, press, type_value

    from uosam_gui.settings_dialog import Choice

    out = tmp_path / "out"
    window = opened(qtbot, tmp_path, engine)
    document = window.document
    rejected = next(obj.index for obj in document.objects if not obj.uses_refined)
    select_by_click(qtbot, window, rejected)
    key(window, Qt.Key.Key_A)  # accept it: the reviewed labels use its refined mask
    assert document.objects[rejected].uses_refined
    key(window, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    reviewed = document.labels.copy()
    dialog = open_settings(qtbot, window)
    type_value(dialog, "lro.iou_threshold", "0.9")  # with it most objects would be rejected
    press(dialog, Choice.APPLY)
    assert window.controller.settings.config.lro.iou_threshold == 0.9
    window.close()

    reopened = make_window(qtbot, tmp_path, engine)
    assert reopened.open_dataset(DEMO / "images", DEMO / "labels", out)
    qtbot.waitUntil(lambda: reopened.document is not None, timeout=REFINE_TIMEOUT_MS)
    assert reopened.controller.settings.config.lro.iou_threshold == 0.9  # the session's settings came back
    again = reopened.document
    assert again.key == document.key and again.objects[rejected].decision == "accept"
    np.testing.assert_array_equal(again.labels, reviewed)
    assert again.refiner.config.lro.iou_threshold == 0.33  # the settings it was reviewed with
    assert any("shown as you reviewed it" in m and "lro.iou_threshold 0.33 -> 0.9" in m for m in reopened.messages)

    # the export writes the reviewed labels and its log says they were made with other settings; the
    # images it refined with the current ones show their new share changed in the list
    with qtbot.waitSignal(reopened.controller.exportFinished, timeout=REFINE_TIMEOUT_MS):
        reopened.exporter.export(tmp_path / "export", "refined")
    log = reopened.exporter.last_log
    entries = {entry["key"]: entry for entry in log["entries"]}
    assert log["config"]["lro"]["iou_threshold"] == 0.9 and log["complete"]
    assert entries[again.key]["settings_differ"] == ["lro.iou_threshold 0.9 -> 0.33"]
    others = [name for name in entries if name != again.key]
    assert others and all("settings_differ" not in entries[name] for name in others)
    for name in others:
        record = reopened.session.records[name]
        assert record.changed_fraction == entries[name]["changed_fraction"] and record.risk == entries[name]["risk"]
        assert f"{100 * record.changed_fraction:.1f}% changed" in reopened.file_panel.items[name].text(0)

    reopened.reviewer.rerun()  # Image > Refine again: the current settings
    qtbot.waitUntil(lambda: reopened.document is not None and reopened.document is not again,
                    timeout=REFINE_TIMEOUT_MS)
    assert reopened.document.refiner.config.lro.iou_threshold == 0.9


def test_ground_truth_scores_are_seen_without_scrolling_sideways(qtbot, tmp_path, engine):
    """User trial: with the ground truth open, the long image column (name, state, share changed, risk)
    pushed the base / now / gain columns out of the list at the default size."""
    window = opened(qtbot, tmp_path, engine)
    window.resize(1024, 700)
    assert window.gt.open(DEMO / "ground_truth")
    qtbot.waitUntil(lambda: not window.gt.busy, timeout=30_000)
    settle()
    panel = window.file_panel
    viewport = panel.list.viewport().rect()
    item = panel.items[window.document.key]
    for column in range(1, panel.list.columnCount()):  # the score columns, whole, inside the visible list
        rect = panel.list.visualItemRect(item)
        left = panel.list.header().sectionViewportPosition(column)
        right = left + panel.list.header().sectionSize(column)
        assert rect.height() > 0 and 0 <= left and right <= viewport.right() + 1, (column, left, right, viewport)
        assert item.text(column) and "no GT" not in item.text(column)
    name_left = panel.list.header().sectionViewportPosition(0)  # the image column: its name is seen too
    assert 0 <= name_left and name_left + panel.list.fontMetrics().horizontalAdvance(window.document.key) \
        <= viewport.right()


def test_the_window_layout_and_view_options_come_back_in_the_next_run(qtbot, tmp_path, engine):
    """User trial: after a reopen the dock width, heatmap and brush size were back to their defaults."""
    from uosam_gui import window_memory
    from uosam_gui.review_state import Heatmap

    window = opened(qtbot, tmp_path, engine)
    window.heatmap_combo.setCurrentText(Heatmap.NONE.value)
    window.opacity_slider.setValue(window.opacity_slider.maximum() // 4)
    key(window, Qt.Key.Key_BracketRight)  # a larger brush
    brush, opacity = window.state.brush_size, window.state.opacity
    dock = window.docks[0]
    window.resizeDocks([dock], [dock.width() + 60], Qt.Orientation.Horizontal)
    settle()
    width = dock.width()
    window.close()

    again = make_window(qtbot, tmp_path, engine)  # the same settings file: the next run of the app
    settle()
    assert again.state.heatmap == Heatmap.NONE and again.heatmap_combo.currentText() == Heatmap.NONE.value
    assert again.state.brush_size == brush and abs(again.state.opacity - opacity) < 1e-6
    # the docks' layout was kept and is one this window takes (offscreen, the 800x600 virtual screen
    # clamps the restored size, so the width itself is checked at the saved window size)
    assert again.restoreState(again.qsettings.value(window_memory.DOCKS))
    again.resize(window.width(), window.height())
    again.restoreState(again.qsettings.value(window_memory.DOCKS))
    settle()
    assert width > 170 and abs(again.docks[0].width() - width) <= 2, (again.docks[0].width(), width)

"""Findings of a user trial under Xvfb (layout and wording): the image area keeps priority at small
window sizes, ground-truth totals beside the file list, clicks beside the image deselect, the help
window closes and is not opened twice, one risk figure, honest counts and words. The real window
(offscreen), real files, real mouse and key events; nothing is refined (Esc) unless a finding needs a
result, and then with the GRO off on the shared MobileSAM engine."""

from __future__ import annotations

import shutil

import numpy as np
from conftest import DEMO, SHARED
from PySide6.QtCore import QPoint, QPointF, Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QDialog, QDialogButtonBox, QMessageBox, QTextBrowser, QWidget
from review_aids_helpers import REFINE_TIMEOUT_MS, make_window

from uosam_core.options import OPTIONS
from uosam_gui.keyboard_review import find_menu
from uosam_gui.layers import Layer
from uosam_gui.main_window import MainWindow
from uosam_gui.review_state import Heatmap

VOC = SHARED / "voc12-val14"
VOC_LABEL = VOC / "label" / "2007_000033.png"


def open_demo(qtbot, tmp_path, engine, size=(1500, 900)) -> MainWindow:
    """The window (on the shared engine: closing it waits for no model load) on the demo set, coco_00
    shown as photo + baseline, its refinement stopped with Esc."""
    window = make_window(qtbot, tmp_path, engine)
    window.resize(*size)
    assert window.open_dataset(DEMO / "images", DEMO / "labels", tmp_path / "out")
    QTest.keyClick(window.canvas, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: window.canvas.image_shape is not None, timeout=10_000)
    QApplication.processEvents()
    return window


def canvas_share(window: MainWindow) -> float:
    """The canvas viewport's width as a share of the window's."""
    return window.canvas.viewport().width() / window.width()


def shown_image_width(window: MainWindow) -> float:
    """Screen pixels the whole image takes after a fit."""
    window.canvas.fit()
    QApplication.processEvents()
    shape = window.canvas.image_shape
    left = window.canvas.mapFromScene(window.canvas.view.mapViewToScene(QPointF(0, 0)))
    right = window.canvas.mapFromScene(window.canvas.view.mapViewToScene(QPointF(shape[1], 0)))
    return right.x() - left.x()


def test_image_area_keeps_priority_at_small_sizes(qtbot, tmp_path, engine):
    window = open_demo(qtbot, tmp_path, engine)
    for size in ((1024, 700), (window.minimumSizeHint().width(), window.minimumSizeHint().height()),
                 (window.minimumWidth(), window.minimumHeight())):
        window.resize(*size)
        QApplication.processEvents()
        qtbot.wait(50)
        assert canvas_share(window) >= 0.5, (size, window.width(), window.canvas.viewport().width())
        assert shown_image_width(window) >= 0.4 * window.width()
    # View > Panels collapses a side panel: the image area takes its room
    before = window.canvas.viewport().width()
    toggle = next(action for action in find_menu(window, "View").actions() if action.text() == "Panels")
    toggle.menu().actions()[0].trigger()  # "Images"
    QApplication.processEvents()
    assert not window.docks[0].isVisible() and window.canvas.viewport().width() > before


def message_room(window: MainWindow) -> int:
    """Pixels the status bar leaves for a message: up to its first visible permanent widget."""
    bar = window.statusBar()
    lefts = [child.geometry().left() for child in bar.findChildren(QWidget) if child.parent() is bar
             and child.isVisible() and child.geometry().left() > 0]
    return min(lefts, default=bar.width())


def test_gt_totals_beside_the_file_list_and_messages_readable(qtbot, tmp_path, engine):
    window = open_demo(qtbot, tmp_path, engine, size=(1024, 700))
    assert window.gt.open(DEMO / "ground_truth")
    qtbot.waitUntil(lambda: not window.gt.busy, timeout=30_000)
    QApplication.processEvents()
    totals = window.gt.status_label
    assert totals.isVisible() and "baseline mIoU" in totals.text() and totals.wordWrap()
    assert window.file_panel.isAncestorOf(totals)  # above the file list, not in the status bar
    message = "coco_00: refining again ... (Esc keeps the current result)"
    window.notify(message)
    QApplication.processEvents()
    assert window.statusBar().currentMessage() == message
    assert message_room(window) >= window.statusBar().fontMetrics().horizontalAdvance(message)
    # the file list's texts are whole (a narrow list scrolls sideways rather than cutting them)
    panel = window.file_panel
    header = panel.list.header()
    for key, item in panel.items.items():
        for column in range(panel.list.columnCount()):
            needed = panel.list.fontMetrics().horizontalAdvance(item.text(column))
            assert header.sectionSize(column) >= needed, (key, column, item.text(column))
    assert "no GT" not in [panel.items["coco_00"].text(column) for column in range(1, 4)]


def click_scene(window: MainWindow, scene_point: QPointF) -> None:
    position = window.canvas.mapFromScene(scene_point)
    QTest.mouseClick(window.canvas.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(position.x(), position.y()))
    QApplication.processEvents()


def test_click_beside_the_image_deselects_also_by_the_colour_bar(qtbot, tmp_path, engine):
    window = open_demo(qtbot, tmp_path, engine)
    canvas = window.canvas
    clicks: list[int] = []
    canvas.emptyClicked.connect(lambda: clicks.append(1))
    shape = canvas.image_shape
    view = canvas.view.sceneBoundingRect()
    # below the image (in the view box) and right of it, in the colour bar's column (bar hidden)
    click_scene(window, canvas.view.mapViewToScene(QPointF(shape[1] / 2, shape[0] * 1.01)))
    assert len(clicks) == 1
    bar_rect = canvas.colorbar.sceneBoundingRect()
    assert bar_rect.left() >= view.right() - 1
    click_scene(window, bar_rect.center())
    assert len(clicks) == 2
    click_scene(window, QPointF(bar_rect.right() + 2, bar_rect.center().y()))  # the margin beyond it
    assert len(clicks) == 3
    # a shown colour bar: its gradient is no "beside the image", the space around it is
    ramp = np.linspace(0, 1, shape[0] * shape[1], dtype=np.float32).reshape(shape)
    canvas.set_heatmap(Layer(ramp, (0, 0, shape[1], shape[0])))
    QApplication.processEvents()
    click_scene(window, canvas.colorbar.bar.sceneBoundingRect().center())
    assert len(clicks) == 3
    click_scene(window, QPointF(bar_rect.center().x(), bar_rect.bottom() - 2))
    assert len(clicks) == 4


def visible_help_dialogs() -> list[QDialog]:
    return [widget for widget in QApplication.topLevelWidgets()
            if isinstance(widget, QDialog) and widget.isVisible() and widget.windowTitle() == "uosam-gui: help"]


def test_help_window_closes_by_keys_and_button_and_opens_once(qtbot, tmp_path, engine):
    window = open_demo(qtbot, tmp_path, engine)
    for close in ("Esc", "Ctrl+W", "button"):
        window.activateWindow()  # where the focus returns after the help closes
        qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=5_000)
        QTest.keyClick(window.canvas, Qt.Key.Key_F1)
        qtbot.waitUntil(lambda: len(visible_help_dialogs()) == 1, timeout=5_000)
        dialog = visible_help_dialogs()[0]
        window.activateWindow()
        QTest.keyClick(window.canvas, Qt.Key.Key_F1)  # again: the same window comes to the front
        QApplication.processEvents()
        assert visible_help_dialogs() == [dialog]
        dialog.activateWindow()
        browser = dialog.findChild(QTextBrowser, "help_browser")
        if close == "Esc":
            QTest.keyClick(browser, Qt.Key.Key_Escape)
        elif close == "Ctrl+W":
            QTest.keyClick(browser, Qt.Key.Key_W, Qt.KeyboardModifier.ControlModifier)
        else:
            button = dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Close)
            QTest.mouseClick(button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: not visible_help_dialogs(), timeout=5_000)


def test_split_view_says_it_hides_the_heatmap_and_brings_it_back(qtbot, tmp_path, engine):
    window = open_demo(qtbot, tmp_path, engine)
    combo = window.heatmap_combo
    combo.setCurrentIndex(combo.findData(Heatmap.VOTE_SHARE))  # as the user picks it
    assert window.state.heatmap == Heatmap.VOTE_SHARE
    QTest.keyClick(window.canvas, Qt.Key.Key_S)
    assert window.review_keys.split.enabled and window.state.heatmap == Heatmap.NONE
    assert "heatmap" in window.statusBar().currentMessage() and Heatmap.VOTE_SHARE.value in window.messages[-1]
    QTest.keyClick(window.canvas, Qt.Key.Key_S)
    assert not window.review_keys.split.enabled
    assert window.state.heatmap == Heatmap.VOTE_SHARE and combo.currentData() == Heatmap.VOTE_SHARE


def test_palette_png_loads_colours_not_names(qtbot, tmp_path, engine):
    window = open_demo(qtbot, tmp_path, engine)
    window.class_loader.ask_file = lambda: VOC_LABEL if VOC_LABEL.is_file() else DEMO / "labels" / "coco_00.png"
    window.menu_actions.load_classes.trigger()
    assert "class colours loaded from" in window.messages[-1] and "names" not in window.messages[-1]
    window.class_loader.ask_file = lambda: DEMO / "classes.json"
    window.menu_actions.load_classes.trigger()
    assert "27 class names" in window.messages[-1]


def test_option_labels_spell_acronyms():
    labels = {option.key.split(".")[-1]: option.label for option in OPTIONS}
    assert labels["iou_threshold"] == "IoU threshold" and labels["min_lcm_contrast"] == "Min LCM contrast"
    assert labels["box_nms_thresh"] == "Box NMS thresh" and labels["min_vote_share"] == "Min vote share"


def test_export_prompt_singular_for_one_unreviewed_image(qtbot, tmp_path, engine):
    images, labels = tmp_path / "images", tmp_path / "labels"
    images.mkdir()
    labels.mkdir()
    shutil.copy(DEMO / "images" / "coco_00.png", images)
    shutil.copy(DEMO / "labels" / "coco_00.png", labels)
    window = make_window(qtbot, tmp_path, engine)
    assert window.open_dataset(images, labels, tmp_path / "out")
    QTest.keyClick(window.canvas, Qt.Key.Key_Escape)
    window.exporter.ask_target = lambda: tmp_path / "export"
    asked: list[str] = []

    def answer() -> None:
        box = QApplication.activeModalWidget()
        if isinstance(box, QMessageBox):
            asked.append(box.text())
            box.reject()
        else:
            QTimer.singleShot(20, answer)

    QTimer.singleShot(20, answer)
    window.menu_actions.export.trigger()
    assert asked and asked[0].startswith("1 image is not reviewed. What should the export write for it?")
    assert "images are" not in asked[0]


def test_one_risk_figure_and_refine_all_counts_what_it_refines(qtbot, tmp_path, engine):
    window = make_window(qtbot, tmp_path, engine)  # GRO off: objects and risk, fast
    window.file_panel.filter_edit.setText("coco_00")  # no look-ahead: only the shown image is refined
    assert window.open_dataset(DEMO / "images", DEMO / "labels", tmp_path / "out")
    qtbot.waitUntil(lambda: window.document is not None, timeout=REFINE_TIMEOUT_MS)
    risk = window.document.result.risk
    status = window.review_keys.risk_label.text()
    assert status == f"risk {100 * risk:.2f}%"
    qtbot.waitUntil(lambda: window.session.records["coco_00"].risk is not None, timeout=10_000)
    assert status in window.file_panel.items["coco_00"].text(0)  # the same figure, written the same way
    window.file_panel.filter_edit.setText("")
    qtbot.waitUntil(lambda: (tmp_path / "out" / ".uosam" / "results").is_dir() and not window.controller.busy,
                    timeout=30_000)
    window.menu_actions.refine_all.trigger()  # Image > Refine all: coco_00's result is stored already
    started = next(message for message in reversed(window.messages) if message.startswith("refine all:"))
    assert "2 images to refine, 1 already stored" in started
    with qtbot.waitSignal(window.refine_all.finished, timeout=REFINE_TIMEOUT_MS):
        window.menu_actions.refine_all.trigger()  # stop

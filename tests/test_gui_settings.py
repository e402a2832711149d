"""Image > Refinement settings through the real window (offscreen, real MobileSAM, demo data): a refused
value shows the CLI's message, a changed threshold refines the image again with it, the session keeps
the settings across a reopen, and another model setting loads in the background."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import DEMO
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from review_aids_helpers import REFINE_TIMEOUT_MS, make_window

from uosam_core.cli import main as cli_main
from uosam_core.config import GroConfig, RefineConfig
from uosam_core.options import BY_KEY, OPTIONS, RefineSettings, Section
from uosam_gui.main_window import MainWindow
from uosam_gui.settings_dialog import Choice, SettingsDialog


def open_and_wait(qtbot, window: MainWindow, out: Path) -> None:
    assert window.open_dataset(DEMO / "images", DEMO / "labels", out)
    qtbot.waitUntil(lambda: window.document is not None, timeout=REFINE_TIMEOUT_MS)


def open_settings(qtbot, window: MainWindow) -> SettingsDialog:
    """Ctrl+, as a user presses it."""
    QTest.keyClick(window.canvas, Qt.Key.Key_Comma, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: window.settings_flow.dialog is not None and window.settings_flow.dialog.isVisible(),
                    timeout=5_000)
    return window.settings_flow.dialog


def show_tab(dialog: SettingsDialog, section: Section) -> None:
    bar = dialog.tabs.tabBar()
    index = [dialog.tabs.tabText(i) for i in range(dialog.tabs.count())].index(section.value)
    QTest.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(index).center())
    assert dialog.tabs.currentIndex() == index


def type_value(dialog: SettingsDialog, key: str, text: str) -> None:
    show_tab(dialog, BY_KEY[key].section)
    field = dialog.fields[key]
    QTest.mouseClick(field, Qt.MouseButton.LeftButton)
    QTest.keyClick(field, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClicks(field, text)
    assert field.text() == text


def press(dialog: SettingsDialog, choice: Choice) -> None:
    QTest.mouseClick(dialog.buttons[choice], Qt.MouseButton.LeftButton)


def test_dialog_lists_every_option_the_cli_has(qtbot):
    dialog = SettingsDialog(RefineSettings())
    qtbot.addWidget(dialog)
    assert set(dialog.fields) == {option.key for option in OPTIONS}
    tabs = [dialog.tabs.tabText(i) for i in range(dialog.tabs.count())]
    assert tabs == [section.value for section in Section]


def test_change_a_threshold_refine_again_reopen_and_load_another_model(qtbot, tmp_path, capsys, engine):
    out = tmp_path / "out"
    window = make_window(qtbot, tmp_path, engine, RefineConfig(gro=GroConfig(profile="off")))
    open_and_wait(qtbot, window, out)
    first = window.document
    baseline = first.result.baseline
    assert first.key == "coco_00" and (first.labels != baseline).any()  # the LRO changed pixels
    assert window.session.settings["gro.profile"] == "off"  # a new session records the settings in use
    assert "profile off" in window.settings_flow.label.text()

    dialog = open_settings(qtbot, window)
    assert dialog.fields["gro.profile"].currentText() == "off"
    # a refused value: named with the line `uosam refine` prints; the dialog stays open on its tab
    type_value(dialog, "gro.min_vote_share", "5")
    show_tab(dialog, Section.MODEL)
    press(dialog, Choice.REFINE_IMAGE)
    assert dialog.isVisible() and window.controller.settings.config.gro.min_vote_share == 0.55
    cli_line = "--min-vote-share: must be >= 0.0 and <= 1.0, got 5"
    assert dialog.error_label.text() == f"Min vote share ({cli_line})"
    assert dialog.tabs.currentWidget() is dialog._pages[Section.GRO]
    with pytest.raises(SystemExit):
        cli_main(["refine", "i", "l", "o", "--min-vote-share", "5"])
    assert f"argument {cli_line}" in capsys.readouterr().err
    # user trial: two refused values are named at once (not the second only after fixing the first)
    type_value(dialog, "lro.min_object_area", "-5")
    press(dialog, Choice.REFINE_IMAGE)
    lines = dialog.error_label.text().splitlines()
    assert lines == ["Min object area (--min-object-area: must be >= 0, got -5)", f"Min vote share ({cli_line})"]
    assert dialog.tabs.currentWidget() is dialog._pages[Section.LRO]  # the first one's tab
    assert dialog.fields["lro.min_object_area"].styleSheet() and dialog.fields["gro.min_vote_share"].styleSheet()
    type_value(dialog, "lro.min_object_area", "64")

    # every object must now reach IoU 1.0 with its baseline object: all rejected, the labels are the baseline
    type_value(dialog, "gro.min_vote_share", "0.55")
    type_value(dialog, "lro.iou_threshold", "1.0")
    press(dialog, Choice.REFINE_IMAGE)
    assert not dialog.isVisible()
    qtbot.waitUntil(lambda: window.document is not None and window.document is not first, timeout=REFINE_TIMEOUT_MS)
    again = window.document
    assert again.key == "coco_00" and not any(obj.uses_refined for obj in again.objects)
    np.testing.assert_array_equal(again.labels, baseline)
    assert "iou-threshold 1.0" in window.settings_flow.label.text()
    stored = json.loads((out / "uosam-session.json").read_text())["settings"]
    assert stored["lro.iou_threshold"] == "1.0" and stored["gro.profile"] == "off"
    window.close()

    # reopened by an app launched with other settings (GRO fast): the session's settings come back
    reopened = make_window(qtbot, tmp_path, engine, RefineConfig())
    open_and_wait(qtbot, reopened, out)
    config = reopened.controller.settings.config
    assert (config.lro.iou_threshold, config.gro.profile) == (1.0, "off")
    assert any(m.startswith("settings restored from the session") for m in reopened.messages)
    np.testing.assert_array_equal(reopened.document.labels, baseline)
    dialog = open_settings(qtbot, reopened)
    assert dialog.fields["lro.iou_threshold"].text() == "1.0"

    # another model setting (device cpu -> auto): a new engine loads in the background, the window does not wait
    show_tab(dialog, Section.MODEL)
    device = dialog.fields["device"]
    QTest.mouseClick(device, Qt.MouseButton.LeftButton)
    device.hidePopup()
    QTest.keyClick(device, Qt.Key.Key_Up)
    assert device.currentText() == "auto"
    with qtbot.waitSignal(reopened.controller.modelReady, timeout=REFINE_TIMEOUT_MS):
        started = time.perf_counter()
        press(dialog, Choice.APPLY)
        returned = time.perf_counter() - started
    assert returned < 1.0 and reopened.controller.settings.device == "auto"
    refiner = reopened.controller.model.refiner
    assert refiner.engine is not engine and refiner.config.lro.iou_threshold == 1.0
    assert json.loads((out / "uosam-session.json").read_text())["settings"]["device"] == "auto"
    reopened.close()

"""Findings of the twelfth user trial, through the real window (offscreen, real MobileSAM with the GRO
off, demo images, real keys)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import DEMO
from PySide6.QtCore import Qt
from review_aids_helpers import REFINE_TIMEOUT_MS, key, make_window

from uosam_core.image_io import read_labels
from uosam_core.image_scores import PairCounts
from uosam_core.pipeline import Refiner


def dataset_with_a_broken_label(tmp_path):
    """The three demo images; the middle one's label is a truncated PNG."""
    images, labels = tmp_path / "images", tmp_path / "labels"
    shutil.copytree(DEMO / "images", images)
    shutil.copytree(DEMO / "labels", labels)
    broken = labels / "coco_03.png"
    broken.write_bytes(broken.read_bytes()[:400])
    return images, labels


def test_next_image_goes_past_an_image_that_cannot_be_read(qtbot, tmp_path, engine):
    """User trial: N onto an image whose label is truncated showed the error but stayed on the image
    before it; pressing N again repeated the error, so keyboard review was stuck there."""
    images, labels = dataset_with_a_broken_label(tmp_path)
    window = make_window(qtbot, tmp_path, engine)
    assert window.open_dataset(images, labels, tmp_path / "out")
    session = window.reviewer.state.session
    qtbot.waitUntil(lambda: window.document is not None, timeout=REFINE_TIMEOUT_MS)
    assert session.current == "coco_00"
    assert window.gt.open(DEMO / "ground_truth", 27)  # coco_03's baseline cannot be scored either
    # the next image, refined ahead, fails: its line says so; the banner stays for the image shown
    qtbot.waitUntil(lambda: session.records["coco_03"].state == "error" and not window.gt.busy,
                    timeout=REFINE_TIMEOUT_MS)
    assert window.gt.truth.entries["coco_03"].problem is not None
    assert not window.banner.isVisible()
    assert any("coco_03 (refined ahead, not shown)" in message for message in window.messages)
    key(window, Qt.Key.Key_N)
    qtbot.waitUntil(lambda: window.banner.isVisible(), timeout=REFINE_TIMEOUT_MS)
    assert session.current == "coco_03"
    assert window.file_panel.current_key == "coco_03"
    assert "coco_03" in window.banner.label.text() and "truncated" in window.banner.label.text()
    key(window, Qt.Key.Key_N)
    qtbot.waitUntil(lambda: window.document is not None and window.document.key == "coco_07",
                    timeout=REFINE_TIMEOUT_MS)
    assert session.current == "coco_07"
    key(window, Qt.Key.Key_P)
    qtbot.wait(200)
    assert session.current == "coco_03"


def test_an_image_edited_in_an_earlier_run_is_scored_with_its_edits(qtbot, tmp_path, engine):
    """User trial: after a reopen, an image edited in the earlier run showed its baseline score as
    "now" (gain +0.00), and the set totals with it; its edits came back only once it was opened."""
    gt = DEMO / "ground_truth"
    first = make_window(qtbot, tmp_path, engine)
    assert first.open_dataset(DEMO / "images", DEMO / "labels", tmp_path / "out")
    qtbot.waitUntil(lambda: first.document is not None, timeout=REFINE_TIMEOUT_MS)
    document = first.document
    assert document.key == "coco_00"
    for index in range(len(document.objects)):  # reject every object: the labels change a lot
        document.set_decision(index, "reject" if document.objects[index].uses_refined else "accept")
    first.reviewer.document_changed()
    edited_labels = document.labels.copy()
    automatic = Refiner(engine, first.controller.model.refiner.config).refine(document.image, document.result.baseline)
    assert not np.array_equal(edited_labels, automatic.labels)
    key(first, Qt.Key.Key_N)  # another image is current when the app closes
    qtbot.waitUntil(lambda: first.document is not None and first.document.key == "coco_03",
                    timeout=REFINE_TIMEOUT_MS)
    first.close()

    second = make_window(qtbot, tmp_path, engine)
    assert second.open_dataset(DEMO / "images", DEMO / "labels", tmp_path / "out")
    assert second.gt.open(gt, 27)
    truth = second.gt.truth
    expected = PairCounts.of(edited_labels, read_labels(gt / "coco_00.png")[0], ignore_index=255).miou(27, 255)
    qtbot.waitUntil(lambda: truth.entries["coco_00"].current is not None, timeout=REFINE_TIMEOUT_MS)
    assert second.reviewer.state.session.current == "coco_03"  # scored without being shown
    assert truth.miou("coco_00", current=True) == pytest.approx(expected)
    assert abs(truth.gain("coco_00")) > 0.1


def test_the_users_decisions_show_in_the_first_column_of_the_object_table(qtbot, tmp_path, engine):
    """User trial: rows accepted or rejected by hand looked like automatic ones; the "uses" column that
    says so was scrolled off the right edge of the panel."""
    window = make_window(qtbot, tmp_path, engine)
    assert window.open_dataset(DEMO / "images", DEMO / "labels", tmp_path / "out")
    qtbot.waitUntil(lambda: window.document is not None, timeout=REFINE_TIMEOUT_MS)
    table = window.object_panel.table
    assert all(table.item(row, 0).text() == str(row) for row in range(table.rowCount()))
    key(window, Qt.Key.Key_J)  # object 0 selected
    key(window, Qt.Key.Key_A, Qt.KeyboardModifier.ShiftModifier)  # accept it, on to object 1
    key(window, Qt.Key.Key_R, Qt.KeyboardModifier.ShiftModifier)  # reject object 1
    first, second, third = (table.item(row, 0) for row in range(3))
    assert first.text() == "0 \u2713" and first.font().bold() and "you chose: accept" in first.toolTip()
    assert second.text() == "1 \u2717" and second.font().bold()
    assert third.text() == "2" and not third.font().bold()
    assert table.visualItemRect(first).right() < table.viewport().width()  # in view without scrolling


def test_dismissing_a_message_leaves_the_keys_with_the_image(qtbot, tmp_path, engine):
    """User trial: after a click on Dismiss the review keys (J, B, ...) did nothing until the user
    clicked into the image: the button had taken the keyboard focus."""
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from uosam_gui.notifications import Level

    window = make_window(qtbot, tmp_path, engine)
    assert window.open_dataset(DEMO / "images", DEMO / "labels", tmp_path / "out")
    qtbot.waitUntil(lambda: window.document is not None, timeout=REFINE_TIMEOUT_MS)
    window.canvas.setFocus()
    focused = QApplication.focusWidget()
    window.notifier.notify("something went wrong", Level.ERROR)
    QTest.mouseClick(window.banner.dismiss_button, Qt.MouseButton.LeftButton)
    assert not window.banner.isVisible()
    assert QApplication.focusWidget() is focused


def test_refine_again_on_an_edited_image_keeps_the_edits_and_says_so(qtbot, tmp_path, engine):
    """User trial: "Refine this image again" on an edited image ran without a word about the edits,
    which were kept (the user could not know whether they would be)."""
    window = make_window(qtbot, tmp_path, engine)
    assert window.open_dataset(DEMO / "images", DEMO / "labels", tmp_path / "out")
    qtbot.waitUntil(lambda: window.document is not None, timeout=REFINE_TIMEOUT_MS)
    document = window.document
    rejected = next(index for index, obj in enumerate(document.objects) if obj.uses_refined)
    document.set_decision(rejected, "reject")
    stroke = np.zeros(document.pixel_edits.shape, bool)
    stroke[5:9, 5:40] = True
    assert document.paint(stroke, 9)
    window.reviewer.document_changed()
    edited = document.labels.copy()
    window.menu_actions.rerun.trigger()
    assert "your decisions and edits are applied to the new result" in window.messages[-1]
    qtbot.waitUntil(lambda: window.document is not document, timeout=REFINE_TIMEOUT_MS)
    again = window.document
    assert again.objects[rejected].decision == "reject"
    assert (again.labels[stroke] == 9).all()
    np.testing.assert_array_equal(again.labels, edited)


def test_open_recent_keeps_whole_paths_and_marks_sessions_that_are_gone(qtbot, tmp_path, engine, monkeypatch):
    """User trial: File > Open recent listed "gout/uosam-session.json" (opened with a relative --out in
    another folder): from anywhere else it said "No such file or directory"."""
    monkeypatch.chdir(tmp_path)
    window = make_window(qtbot, tmp_path, engine)
    assert window.open_dataset(DEMO / "images", DEMO / "labels", Path("out"))
    qtbot.waitUntil(lambda: window.document is not None, timeout=REFINE_TIMEOUT_MS)
    session_file = tmp_path / "out" / "uosam-session.json"
    assert window.reviewer.recent.paths()[0] == str(session_file)
    window.reviewer.recent.add(tmp_path / "elsewhere" / "uosam-session.json")  # a session since deleted
    entries = {action.text(): action.isEnabled() for action in window.menu_actions.recent_menu.actions()}
    assert entries == {f"{tmp_path / 'elsewhere' / 'uosam-session.json'} (not found)": False, str(session_file): True}


def test_object_decisions_are_disabled_before_any_image(qtbot, tmp_path, engine):
    """User trial: with no image open (an output folder refused at start), Accept / Reject / Auto were
    enabled; they act on the selected object, and there was none."""
    window = make_window(qtbot, tmp_path, engine)
    panel = window.object_panel
    assert not any(button.isEnabled() for button in (panel.accept_button, panel.reject_button, panel.auto_button))
    assert window.open_dataset(DEMO / "images", DEMO / "labels", tmp_path / "out")
    qtbot.waitUntil(lambda: window.document is not None, timeout=REFINE_TIMEOUT_MS)
    key(window, Qt.Key.Key_J)
    assert panel.accept_button.isEnabled() and panel.reject_button.isEnabled()

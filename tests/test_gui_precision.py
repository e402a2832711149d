"""The app on an image that kept its baseline (the baseline check, issue 9): the status bar and the file
list say so, Edit > Use the refinement shows what SAM proposed, undo (Ctrl+Z) returns to the kept
baseline, and on the kept image A uses the clicked object alone while R changes nothing (real window
offscreen, real MobileSAM, a real CamVid street scene)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import Qt  # noqa: E402
from review_aids_helpers import REFINE_TIMEOUT_MS, key, make_window  # noqa: E402
from test_gui_review import select_by_click  # noqa: E402
from test_precision import CAMVID, CAMVID_CONFIG, KEPT_STEM  # noqa: E402

from uosam_core.image_io import read_labels  # noqa: E402


def open_street_image(qtbot, tmp_path, engine, stem: str):
    """The real window on one CamVid image and its coarse8 labels (copied to a scratch folder), refined:
    (window, the baseline HxW)."""
    images, labels = tmp_path / "images", tmp_path / "labels"
    images.mkdir()
    labels.mkdir()
    shutil.copy(CAMVID / "image" / f"{stem}.png", images)
    shutil.copy(CAMVID / "coarse8" / f"{stem}.png", labels)
    window = make_window(qtbot, tmp_path, engine, CAMVID_CONFIG)
    assert window.open_dataset(images, labels, tmp_path / "out")
    qtbot.waitUntil(lambda: window.document is not None, timeout=REFINE_TIMEOUT_MS)
    return window, read_labels(labels / f"{stem}.png")[0]


def test_a_kept_image_says_so_and_its_refinement_is_one_action_away(qtbot, tmp_path, engine):
    window, baseline = open_street_image(qtbot, tmp_path, engine, KEPT_STEM)
    document = window.document
    assert document.result.baseline_kept and np.array_equal(document.labels, baseline)
    status = window.review_keys.risk_label
    assert status.text().startswith("baseline kept") and "Use the refinement" in status.toolTip()
    qtbot.waitUntil(lambda: window.file_panel.items[KEPT_STEM].text(0).startswith(f"{KEPT_STEM}  [refined]  "
                                                                                   "baseline kept"))
    action = window.review_keys.use_refinement
    edit_menu = next(a.menu() for a in window.menuBar().actions() if a.menu() and "Edit" in a.menu().title())
    assert action in edit_menu.actions() and action.isEnabled()

    action.trigger()  # what a click on the menu entry does
    assert not document.result.baseline_kept and (document.labels != baseline).mean() > 0.005
    assert status.text().startswith("risk") and "refinement chosen over the kept baseline" in status.text()
    assert action.isEnabled() and action.isChecked()  # the same entry takes the choice back (also after a reopen)
    assert any(obj.uses_refined for obj in document.objects)
    action.trigger()
    assert document.result.baseline_kept and np.array_equal(document.labels, baseline) and not action.isChecked()
    action.trigger()
    assert not document.result.baseline_kept and action.isChecked()
    key(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # undo: the choice taken back
    assert document.result.baseline_kept and not action.isChecked()
    key(window, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)  # redo
    assert not document.result.baseline_kept and action.isChecked()

    action.trigger()  # back to the kept baseline
    assert document.result.baseline_kept and np.array_equal(document.labels, baseline)
    assert status.text().startswith("baseline kept") and action.isEnabled() and not action.isChecked()

    # user trial: on the kept image, R on an object changed the image more than A did (its pixels went to
    # another object's refined mask); A applied the whole refinement
    index = next(obj.index for obj in document.objects if obj.accepted and obj.area > 2000)
    select_by_click(qtbot, window, index)
    key(window, Qt.Key.Key_R)
    assert document.objects[index].decision == "reject" and np.array_equal(document.labels, baseline)
    key(window, Qt.Key.Key_A)
    obj, changed = document.objects[index], document.labels != baseline
    assert obj.uses_refined and changed.any() and not (changed & ~obj.step2_mask & ~obj.baseline_mask).any()
    assert status.text().startswith("baseline kept (edges") and "risk" in status.text()
    assert "kept baseline: the image kept its baseline" in window.object_panel.verdicts[
        next(o.index for o in document.objects if o.index != index and o.accepted)].text


def test_a_new_check_bar_applied_in_the_settings_judges_the_shown_image_again_without_sam(qtbot, tmp_path, engine,
                                                                                          monkeypatch):
    """User trial: the moved-edge bar set to 1.5 and Apply left the kept image kept against the old 1.62 bar,
    also after going to another image and back; only "Refine this image again" (a full refinement) showed it."""
    from test_gui_settings import open_settings, press, type_value
    from test_precision import REDRAWN_STEM

    from uosam_gui.settings_dialog import Choice

    window, baseline = open_street_image(qtbot, tmp_path, engine, REDRAWN_STEM)
    document = window.document
    status = window.review_keys.risk_label
    assert document.result.baseline_kept and status.text().startswith("baseline kept (redrawn edges 1.5")

    def refuse(*args, **kwargs):
        raise AssertionError("SAM ran although only a bar of the check changed")

    monkeypatch.setattr(engine, "encode", refuse)
    monkeypatch.setattr(engine, "decode", refuse)
    dialog = open_settings(qtbot, window)
    type_value(dialog, "precision.min_moved_edge_gain", "1.5")
    press(dialog, Choice.APPLY)
    assert not dialog.isVisible()
    assert window.document is document and not document.result.baseline_kept
    assert document.result.precision.moved_required == 1.5 and (document.labels != baseline).mean() > 0.005
    assert status.text().startswith("risk") and "needed 1.50" in status.toolTip()
    qtbot.waitUntil(lambda: "baseline kept" not in window.file_panel.items[REDRAWN_STEM].text(0))
    assert not document.is_edited  # the automatic result under the new bars, not a user's change

    dialog = open_settings(qtbot, window)
    type_value(dialog, "precision.min_moved_edge_gain", "1.62")
    press(dialog, Choice.APPLY)
    assert document.result.baseline_kept and np.array_equal(document.labels, baseline)
    assert status.text().startswith("baseline kept (redrawn edges")
    window.close()

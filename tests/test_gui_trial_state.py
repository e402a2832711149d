"""Findings of a user trial, through the real window (offscreen, real MobileSAM, demo images, GRO off):
a stored result shows before the model has loaded, Esc while refining leaves list, status and image in
agreement, banners about one image's refinement go with it, a corrupt label still shows its photo, an
unwritable output folder still opens the images, and a save into a file says so."""

from __future__ import annotations

import shutil
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt, QThread
from test_gui_store import Refinements, demo_copy, key, make_window

from uosam_core.batch import run_folder
from uosam_core.config import GroConfig, RefineConfig
from uosam_core.engine import SamEngine
from uosam_core.image_io import read_labels
from uosam_core.options import RefineSettings
from uosam_core.pipeline import Refiner
from uosam_gui.output_files import write_edits_file

NO_GRO = RefineConfig(gro=GroConfig(profile="off"))
TIMEOUT_MS = 120_000


@pytest.fixture
def refinements(monkeypatch) -> Refinements:
    """Refiner.refine calls in any thread (the real method runs), by thread name."""
    calls, real = Refinements(), Refiner.refine

    def counting(self, *args, **kwargs):
        calls.append(QThread.currentThread().objectName() or threading.current_thread().name)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Refiner, "refine", counting)
    return calls


def window_with(qtbot, tmp_path, config: RefineConfig = NO_GRO):
    """The real window on the CPU with ``config`` (GRO off: the fastest real refinement)."""
    window = make_window(qtbot, tmp_path)
    model = window.controller.model
    window.controller.configure(RefineSettings(model.model_type, model.checkpoint, "cpu", config))
    return window


def test_a_stored_result_shows_before_the_model_has_loaded(qtbot, tmp_path, engine, refinements, monkeypatch):
    images, labels = demo_copy(tmp_path, ["coco_07"])
    out = tmp_path / "out"
    run_folder(Refiner(engine, NO_GRO), images, labels, out, progress=False)
    refinements.clear()
    release, real_load = threading.Event(), SamEngine.load.__func__

    def slow_load(cls, *args, **kwargs):
        release.wait(60)  # the model load is held back until the stored result is on screen
        return real_load(cls, *args, **kwargs)

    monkeypatch.setattr(SamEngine, "load", classmethod(slow_load))
    window = window_with(qtbot, tmp_path)
    window.controller.load_model()  # as the app does at start
    try:
        assert window.open_dataset(images, labels, out)
        qtbot.waitUntil(lambda: window.document is not None, timeout=10_000)
        assert window.controller.model.refiner is None  # shown while the model still loads
        np.testing.assert_array_equal(window.document.labels, read_labels(out / "coco_07.png")[0])
        assert window.session.records["coco_07"].state == "refined" and refinements == []
        assert not any("loading model" in m for m in window.messages)
    finally:
        release.set()
    qtbot.waitUntil(lambda: window.controller.model.refiner is not None, timeout=TIMEOUT_MS)
    assert refinements == []
    window.close()


def stored_copy(tmp_path, engine, stems: list[str]):
    """Demo images with their results stored in OUT (as the CLI leaves them), refined with GRO off."""
    images, labels = demo_copy(tmp_path, stems)
    out = tmp_path / "out"
    run_folder(Refiner(engine, NO_GRO), images, labels, out, progress=False)
    return images, labels, out


def entry(window, stem: str) -> str:
    return window.file_panel.items[stem].text(0)


def status(window) -> str:
    return window.statusBar().currentMessage()


def test_esc_while_refining_after_a_settings_change_leaves_list_status_and_image_agreeing(qtbot, tmp_path, engine):
    images, labels, out = stored_copy(tmp_path, engine, ["coco_00", "coco_07"])
    window = window_with(qtbot, tmp_path)
    assert window.open_dataset(images, labels, out)
    qtbot.waitUntil(lambda: window.document is not None, timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: "[refined]" in entry(window, "coco_07"), timeout=TIMEOUT_MS)  # looked ahead
    assert "% changed" in entry(window, "coco_07")
    model, other = window.controller.model, replace(NO_GRO, lro=replace(NO_GRO.lro, min_object_area=65))
    window.settings_flow.apply(RefineSettings(model.model_type, model.checkpoint, "cpu", other))
    key(window, Qt.Key.Key_N)  # coco_07: its stored result is for other settings, so it refines
    assert window.document is None and window.state.preview is not None and "refining coco_07" in status(window)
    key(window, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not window.controller.busy, timeout=TIMEOUT_MS)
    qtbot.wait(50)
    # shown: the baseline (no result); the list says "not run", the status bar no longer "refining"
    assert window.document is None and window.state.preview.key == "coco_07"
    assert "[not run]" in entry(window, "coco_07") and "changed" not in entry(window, "coco_07")
    assert "refining" not in status(window) and "stopped" in status(window)
    assert not window.progress_bar.isVisible()
    window.close()


def test_banners_about_an_images_refinement_go_with_it(qtbot, tmp_path, engine):
    images, labels, out = stored_copy(tmp_path, engine, ["coco_00", "coco_07"])
    stale = out / ".uosam" / "results" / "coco_00.npz"
    stale.write_bytes(b"not a stored result")  # coco_00 refines again
    edits = out / ".uosam" / "edits" / "coco_00.npz"
    edits.parent.mkdir(parents=True)
    write_edits_file(edits, np.full((3, 4), 1, np.int32))  # pixel edits that do not fit coco_00
    window = window_with(qtbot, tmp_path)
    assert window.open_dataset(images, labels, out)
    qtbot.waitUntil(lambda: window.document is not None, timeout=TIMEOUT_MS)
    assert window.document.key == "coco_00"
    # the refinement is done: what it said about the stored result is past, not a standing banner
    assert any(str(stale) in m and not m.startswith("warning") for m in window.messages)
    assert window.banner.isVisible() and "do not fit" in window.banner.label.text()
    assert str(stale) not in window.banner.label.text()
    key(window, Qt.Key.Key_N)  # another image: the banner about coco_00 goes
    qtbot.waitUntil(lambda: window.document is not None and window.document.key == "coco_07", timeout=TIMEOUT_MS)
    assert not window.banner.isVisible() and window.notifier.standing is None
    window.close()


def test_a_corrupt_label_png_shows_the_photo_and_an_error_entry(qtbot, tmp_path):
    images, labels = demo_copy(tmp_path, ["coco_00"])
    (labels / "coco_00.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    window = window_with(qtbot, tmp_path)
    assert window.open_dataset(images, labels, tmp_path / "out")
    qtbot.waitUntil(lambda: "[error]" in entry(window, "coco_00"), timeout=TIMEOUT_MS)
    assert window.banner.isVisible() and "coco_00" in window.banner.label.text()
    assert window.canvas.image_shape is not None and window.canvas.image_item.isVisible()  # the photo
    assert not window.canvas.overlay_item.isVisible() or not window.canvas.shown_layers[
        window.canvas.overlay_item].data[..., 3].any()  # no overlay of labels that could not be read
    assert "refining" not in status(window) and not window.controller.busy
    window.close()


def test_an_unwritable_output_folder_opens_the_images_and_keeps_changes_in_memory(qtbot, tmp_path):
    images, labels = demo_copy(tmp_path, ["coco_07"])
    window = window_with(qtbot, tmp_path)
    asked: list[str] = []
    window.reviewer.ask_folder = lambda problem: asked.append(problem)  # "No" to "Choose another folder?"
    assert window.open_dataset(images, labels, Path("/proc/uosam_out"))
    assert asked and window.session is not None and window.canvas.image_shape is not None
    assert window.banner.isVisible() and "memory" in window.banner.label.text()
    for needs_object in (window.object_panel.accept_button, window.object_panel.reject_button,
                         window.object_panel.auto_button, window.menu_actions.accept):
        assert not needs_object.isEnabled()
    qtbot.waitUntil(lambda: window.document is not None, timeout=TIMEOUT_MS)
    window.object_panel.select(0)
    key(window, Qt.Key.Key_A)
    assert window.document.objects[0].decision == "accept"
    window.reviewer.autosave()
    assert "coco_07" in window.reviewer.unsaved and "coco_07" in window.controller.pinned  # kept in memory
    assert window.banner.isVisible() and not Path("/proc/uosam_out").exists()
    window.reviewer.confirm = lambda question: True
    window.close()


def test_saving_into_an_output_folder_replaced_by_a_file_says_so(qtbot, tmp_path, engine):
    images, labels, out = stored_copy(tmp_path, engine, ["coco_07"])
    window = window_with(qtbot, tmp_path)
    assert window.open_dataset(images, labels, out)
    qtbot.waitUntil(lambda: window.document is not None, timeout=TIMEOUT_MS)
    shutil.rmtree(out)
    out.write_text("a file where the output folder was")
    key(window, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    said = window.banner.label.text()
    assert f"{out} is a file, not a folder" in said and "File exists" not in said
    window.reviewer.confirm = lambda question: True
    window.close()

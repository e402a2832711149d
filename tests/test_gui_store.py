"""Stored results through the real window (offscreen, real MobileSAM, demo images): a reopened or
CLI-refined folder shows without refining, Refine all runs in the background while the user reviews,
export offers refined / baseline / skip, refines nothing stored, never blocks, creates its folder."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import DEMO
from PySide6.QtCore import QSettings, Qt, QThread
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from uosam_core.batch import run_folder
from uosam_core.image_io import read_labels
from uosam_core.pipeline import Refiner
from uosam_gui.controller import RefineController
from uosam_gui.main_window import MainWindow

TIMEOUT_MS = 300_000


class Refinements(list):
    """Refiner.refine calls in any thread (the real method runs): ``self`` lists the calls that started,
    ``finished`` those that ran to their end, each as its (Q)thread's name (a Refine-all job that gives
    way to the shown image's refinement started but did not finish)."""

    def __init__(self) -> None:
        super().__init__()
        self.finished: list[str] = []

    def clear(self) -> None:
        super().clear()
        self.finished.clear()


@pytest.fixture
def refinements(monkeypatch) -> Refinements:
    calls = Refinements()
    real = Refiner.refine

    def counting(self, *args, **kwargs):
        thread = QThread.currentThread().objectName() or threading.current_thread().name
        calls.append(thread)
        result = real(self, *args, **kwargs)
        calls.finished.append(thread)
        return result

    monkeypatch.setattr(Refiner, "refine", counting)
    return calls


def demo_copy(root: Path, stems: list[str]) -> tuple[Path, Path]:
    images, labels = root / "images", root / "labels"
    for folder in (images, labels):
        folder.mkdir(parents=True)
    for stem in stems:
        shutil.copy(DEMO / "images" / f"{stem}.png", images / f"{stem}.png")
        shutil.copy(DEMO / "labels" / f"{stem}.png", labels / f"{stem}.png")
    return images, labels


def make_window(qtbot, tmp_path: Path) -> MainWindow:
    window = MainWindow(RefineController(device="cpu"), QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    window.show()
    window.activateWindow()
    qtbot.waitExposed(window)
    qtbot.waitUntil(window.isActiveWindow)  # shortcuts reach an active window only
    return window


def key(window: MainWindow, which, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    QTest.keyClick(window.canvas, which, modifiers)
    QApplication.processEvents()


def export_by_keys(qtbot, window: MainWindow, target: Path, choice: str) -> tuple[dict, list]:
    """Ctrl+E, answering the folder and the unreviewed-images question; the window is not blocked."""
    asked: list[tuple[int, int]] = []
    window.exporter.ask_target = lambda: target
    window.exporter.ask_choice = lambda unreviewed, unstored: (asked.append((unreviewed, unstored)), choice)[1]
    with qtbot.waitSignal(window.controller.exportFinished, timeout=TIMEOUT_MS):
        key(window, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
        assert window.exporter.running and window.exporter.bar.isVisible()
        assert QApplication.activeModalWidget() is None  # no modal dialog: the user keeps working
    assert not window.exporter.bar.isVisible()
    return window.exporter.last_log, asked


def test_a_cli_refined_folder_opens_and_exports_without_refining(qtbot, tmp_path, engine, refinements):
    images, labels = demo_copy(tmp_path, ["coco_07"])
    out = tmp_path / "labels-uosam"
    summary = run_folder(Refiner(engine), images, labels, out, progress=False)
    assert len(summary.written) == 1 and len(refinements) == 1
    assert (out / ".uosam" / "results" / "coco_07.npz").is_file()
    refinements.clear()

    window = make_window(qtbot, tmp_path)
    assert window.open_dataset(images, labels, out)
    qtbot.waitUntil(lambda: window.document is not None, timeout=TIMEOUT_MS)
    cli_labels = read_labels(out / "coco_07.png")[0]
    np.testing.assert_array_equal(window.document.labels, cli_labels)
    assert refinements == [] and "loaded from store" in window.document.result.timings

    target = tmp_path / "not" / "yet" / "there"
    log, asked = export_by_keys(qtbot, window, target, "refined")
    assert asked == [(1, 0)]  # one image not reviewed, its result stored
    assert log["complete"] and [entry["source"] for entry in log["entries"]] == ["refined (not reviewed)"]
    np.testing.assert_array_equal(read_labels(target / "coco_07.png")[0], cli_labels)
    assert refinements == []
    window.close()


def test_refine_all_in_the_background_then_reopen_and_export_without_refining(qtbot, tmp_path, refinements):
    stems = ["coco_00", "coco_03", "coco_07"]
    images, labels = demo_copy(tmp_path, stems)
    out = tmp_path / "out"
    window = make_window(qtbot, tmp_path)
    assert window.open_dataset(images, labels, out)
    # Image > Refine all (Ctrl+R), and again: stopped (its job was waiting for the shown image)
    key(window, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    assert window.refine_all.running and window.menu_actions.refine_all.text() == "Stop refining all"
    assert window.file_panel.notes == {stem: "queued" for stem in stems}
    with qtbot.waitSignal(window.refine_all.finished, timeout=TIMEOUT_MS) as stopped:
        key(window, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    assert stopped.args[0]["cancelled"] and stopped.args[0]["refined"] == 0 and not window.file_panel.notes
    assert "uosam-batch" not in refinements
    key(window, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    assert window.refine_all.running
    notes: set[str] = set()

    def watch() -> bool:
        notes.update(f"{k}: {n}" for k, n in window.file_panel.notes.items())
        return window.document is not None

    qtbot.waitUntil(watch, timeout=TIMEOUT_MS)
    assert window.document.key == "coco_00"  # refined first (Refine all waits for the shown image)
    # coco_03 is refined ahead for the user; Refine all refines coco_07 itself, with progress in the list
    qtbot.waitUntil(lambda: watch() and window.file_panel.notes.get("coco_07", "").endswith("%"), timeout=TIMEOUT_MS)
    # ... while the user reviews: select the largest object, accept it
    window.object_panel.select(0)
    key(window, Qt.Key.Key_A)
    assert window.document.objects[0].decision == "accept" and window.refine_all.running
    with qtbot.waitSignal(window.refine_all.finished, timeout=TIMEOUT_MS) as finished:
        qtbot.waitUntil(lambda: watch() and not window.refine_all.running, timeout=TIMEOUT_MS)
    counts = finished.args[0]
    assert counts == {"refined": 1, "stored": 2, "failed": 0, "cancelled": False, "seconds": counts["seconds"]}
    assert refinements.finished.count("uosam-batch") == 1 and len(refinements.finished) == 3  # each image once
    key(window, Qt.Key.Key_N)  # the look-ahead is there
    qtbot.waitUntil(lambda: window.document.key == "coco_03", timeout=5_000)
    assert not window.file_panel.notes and window.menu_actions.refine_all.text().startswith("Refine all")
    assert {record.state for record in window.session.records.values()} <= {"refined", "edited"}
    assert all(window.session.records[k].changed_fraction is not None for k in stems)
    window.close()

    # reopen: every image shows without a refinement
    refinements.clear()
    reopened = make_window(qtbot, tmp_path)
    assert reopened.open_dataset(images, labels, out)
    qtbot.waitUntil(lambda: reopened.document is not None, timeout=TIMEOUT_MS)
    assert reopened.document.key == "coco_03" and reopened.document.objects
    for stem in ("coco_07", "coco_00"):
        key(reopened, Qt.Key.Key_N)
        qtbot.waitUntil(lambda s=stem: reopened.document is not None and reopened.document.key == s,
                        timeout=TIMEOUT_MS)
    assert reopened.document.objects[0].decision == "accept"  # the user's decision came back with it
    assert refinements == []

    # export: refined results for the unreviewed, into a folder that does not exist yet; nothing refined
    log, asked = export_by_keys(qtbot, reopened, tmp_path / "exports" / "all", "refined")
    assert asked == [(2, 0)] and log["complete"] and refinements == []
    sources = {entry["key"]: entry["source"] for entry in log["entries"]}
    assert sources == {"coco_00": "edited", "coco_03": "refined (not reviewed)", "coco_07": "refined (not reviewed)"}
    # review coco_03 (Ctrl+S), then export skipping the unreviewed: coco_03 is left out
    key(reopened, Qt.Key.Key_N)
    qtbot.waitUntil(lambda: reopened.document is not None and reopened.document.key == "coco_03", timeout=TIMEOUT_MS)
    key(reopened, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    log, asked = export_by_keys(qtbot, reopened, tmp_path / "exports" / "reviewed", "skip")
    assert asked == [(1, 0)] and log["not_exported"] == ["coco_07"] and log["complete"]
    assert sorted(p.name for p in (tmp_path / "exports" / "reviewed").glob("*.png")) == ["coco_00.png",
                                                                                       "coco_03.png"]
    log, _ = export_by_keys(qtbot, reopened, tmp_path / "exports" / "baseline", "baseline")
    np.testing.assert_array_equal(read_labels(tmp_path / "exports" / "baseline" / "coco_07.png")[0],
                                  read_labels(labels / "coco_07.png")[0])
    assert refinements == []
    reopened.close()


def test_a_folder_stored_with_other_check_bars_shows_refined_and_opens_without_refining(qtbot, tmp_path, engine,
                                                                                        refinements):
    """User trial: after the check's bars changed, images the CLI had stored were listed as "not run"
    until opened (the scan matched the exact settings only)."""
    from dataclasses import replace

    from review_aids_helpers import make_window as make_configured_window

    from uosam_core.config import RefineConfig

    images, labels = demo_copy(tmp_path, ["coco_00", "coco_03", "coco_07"])
    out = tmp_path / "labels-uosam"
    run_folder(Refiner(engine), images, labels, out, progress=False)
    refinements.clear()
    other_bars = replace(RefineConfig(), precision=replace(RefineConfig().precision, min_edge_gain=1.0))
    window = make_configured_window(qtbot, tmp_path, engine, other_bars)
    assert window.open_dataset(images, labels, out)
    qtbot.waitUntil(lambda: window.document is not None, timeout=TIMEOUT_MS)
    assert window.document.key == "coco_00"  # the next one is refined ahead: the last one only the scan finds
    unopened = "coco_07"
    qtbot.waitUntil(lambda: "[refined]" in window.file_panel.items[unopened].text(0), timeout=TIMEOUT_MS)
    assert window.document.result.precision.required in (1.0, 1.08)  # judged with the window's bars
    assert refinements == []  # the shown image and the prefetched one came from the store: no SAM
    window.close()

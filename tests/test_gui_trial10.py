"""Findings of the tenth user trial, through the real window (offscreen, real MobileSAM with the GRO off,
demo and VOC images, real mouse, keys and menu actions): a folder refined on the command line (or
exported) lists every stored result as refined and scores it against the ground truth, without hashing
on the GUI thread; the shown image is encoded ahead so its first edit is fast (and an edit that has to
wait says so); an error banner about one image goes when another is shown; long ground-truth totals
never widen the file list, and the review panel's buttons are never cut."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest
from conftest import DEMO, SHARED
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QAbstractButton, QApplication, QLabel
from review_aids_helpers import LRO_ONLY, key, widget_point
from review_aids_helpers import make_window as make_engine_window
from test_gui_review import interior_point, select_by_click
from test_gui_store import demo_copy

from uosam_core import result_store
from uosam_core.batch import run_folder
from uosam_core.embedding_cache import EmbeddingCache
from uosam_core.image_io import read_labels
from uosam_core.metrics import Evaluator
from uosam_core.options import RefineSettings
from uosam_core.pipeline import Refiner

TIMEOUT_MS = 120_000
VOC = SHARED / "voc12-val14"


STEMS = ["coco_00", "coco_03", "coco_07"]


@pytest.fixture(scope="module")
def refined_demo(tmp_path_factory, engine) -> Path:
    """The demo refined as ``uosam refine IMAGES LABELS OUT`` leaves it (labels and stored results), once."""
    root = tmp_path_factory.mktemp("refined-demo")
    images, labels = demo_copy(root, STEMS)
    run_folder(Refiner(engine, LRO_ONLY), images, labels, root / "out", progress=False)
    return root


def cli_refined(tmp_path, refined_demo: Path) -> tuple[Path, Path, Path]:
    """A copy of the refined demo: images, labels, OUT."""
    for name in ("images", "labels", "out"):
        shutil.copytree(refined_demo / name, tmp_path / name)
    return tmp_path / "images", tmp_path / "labels", tmp_path / "out"


def make_window(qtbot, tmp_path, engine):
    """The real window on the shared engine, active (so that its shortcuts, e.g. Esc, reach it)."""
    window = make_engine_window(qtbot, tmp_path, engine)
    qtbot.waitUntil(window.isActiveWindow)
    return window


def entry(window, stem: str) -> str:
    return window.file_panel.items[stem].text(0)


def click_entry(window, stem: str) -> None:
    """A click on an image's line in the file list."""
    panel = window.file_panel
    rect = panel.list.visualItemRect(panel.items[stem])
    QTest.mouseClick(panel.list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    QApplication.processEvents()


# ------------------------------------------------------------------ 1. stored results listed at once
def test_a_folder_refined_on_the_command_line_lists_and_scores_every_stored_result(qtbot, tmp_path, engine,
                                                                                  refined_demo, monkeypatch):
    stems = STEMS
    images, labels, out = cli_refined(tmp_path, refined_demo)
    hashed_on, real_hash = [], result_store.sha256_file

    def watched_hash(path):
        hashed_on.append(threading.current_thread().name)
        return real_hash(path)

    monkeypatch.setattr(result_store, "sha256_file", watched_hash)
    window = make_window(qtbot, tmp_path, engine)
    assert window.open_dataset(images, labels, out)
    assert window.gt.open(DEMO / "ground_truth", 27)  # as uosam-gui ... --gt GT --num-classes 27
    # coco_00 is shown and coco_03 looked ahead; coco_07 is never opened, yet listed as refined
    qtbot.waitUntil(lambda: all("[refined]" in entry(window, stem) for stem in stems), timeout=30_000)
    assert "coco_07" not in window.controller.documents
    store = result_store.ResultStore(out)
    summary = store.summary("coco_07")
    assert f"{100 * summary['changed_fraction']:.1f}% changed" in entry(window, "coco_07")
    assert window.session.records["coco_07"].risk == summary["risk"]
    assert "MainThread" not in hashed_on  # the checking never blocks the window
    # the ground-truth totals score the stored labels: equal to uosam eval on OUT
    truth = window.gt.truth
    qtbot.waitUntil(lambda: not window.gt.busy and all(e.current is not None for e in truth.entries.values()),
                    timeout=30_000)
    evaluator = Evaluator(27, truth.ignore_index)
    for stem in stems:
        evaluator.add(read_labels(out / f"{stem}.png")[0], read_labels(DEMO / "ground_truth" / f"{stem}.png")[0])
    assert truth.totals(current=True).miou == evaluator.scores().miou
    assert f"current mIoU {evaluator.scores().miou:.2f}" in window.gt.status_label.text()
    window.close()


def test_images_exported_without_being_shown_are_listed_refined_after_the_export(qtbot, tmp_path, engine,
                                                                                 monkeypatch):
    images, labels = demo_copy(tmp_path, ["coco_00", "coco_07"])
    monkeypatch.setattr(engine, "cache", EmbeddingCache())  # coco_00 needs its encoding: Esc stops it in time
    window = make_window(qtbot, tmp_path, engine)
    assert window.open_dataset(images, labels, tmp_path / "out")
    key(window, Qt.Key.Key_Escape)  # the shown image's refinement stops: nothing is refined yet
    qtbot.waitUntil(lambda: not window.controller.busy, timeout=TIMEOUT_MS)
    assert "[not run]" in entry(window, "coco_07"), window.messages  # never shown
    window.exporter.ask_target = lambda: tmp_path / "exported"
    window.exporter.ask_choice = lambda *_: "refined"
    window.menu_actions.export.trigger()  # File > Export cleaned labels...
    qtbot.waitUntil(lambda: not window.exporter.running, timeout=TIMEOUT_MS)
    assert window.exporter.last_log is not None and len(window.exporter.last_log["entries"]) == 2
    qtbot.waitUntil(lambda: all("[refined]" in entry(window, stem) for stem in ("coco_00", "coco_07")),
                    timeout=30_000)
    assert "% changed" in entry(window, "coco_07")
    window.close()


# ------------------------------------------------------------------ 2. the first edit is fast
def test_a_stored_image_is_encoded_ahead_so_its_first_edit_needs_no_encoding(qtbot, tmp_path, engine, refined_demo,
                                                                            monkeypatch):
    images, labels, out = cli_refined(tmp_path, refined_demo)
    monkeypatch.setattr(engine, "cache", EmbeddingCache())  # a new app: no image encoded in this process yet
    encodes = engine.encode_count
    window = make_window(qtbot, tmp_path, engine)
    assert window.open_dataset(images, labels, out)
    qtbot.waitUntil(lambda: window.document is not None, timeout=TIMEOUT_MS)
    assert "loaded from store" in window.document.result.timings  # shown without the model's encoder
    qtbot.waitUntil(lambda: engine.encode_count == encodes + 1, timeout=30_000)  # encoded in the background
    select_by_click(qtbot, window, 0)
    obj = window.document.objects[0]
    with qtbot.waitSignal(window.controller.redecoded, timeout=TIMEOUT_MS):
        QTest.mouseClick(window.canvas.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                         widget_point(window, *interior_point(window, [*obj.prompts.positive, *obj.prompts.negative])))
    assert engine.encode_count == encodes + 1  # the edit only decoded
    assert not any("preparing this image" in message for message in window.messages)
    window.close()


def test_an_edit_before_the_image_is_encoded_says_what_it_waits_for(qtbot, tmp_path, engine, refined_demo,
                                                                    monkeypatch):
    images, labels, out = cli_refined(tmp_path, refined_demo)
    monkeypatch.setattr(engine, "cache", EmbeddingCache())
    window = make_window(qtbot, tmp_path, engine)
    assert window.open_dataset(images, labels, out)
    qtbot.waitUntil(lambda: window.document is not None, timeout=TIMEOUT_MS)
    select_by_click(qtbot, window, 0)  # at once: the encoding ahead (0.5 s or more) has not finished
    obj = window.document.objects[0]
    with qtbot.waitSignal(window.controller.redecoded, timeout=TIMEOUT_MS):
        QTest.mouseClick(window.canvas.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                         widget_point(window, *interior_point(window, [*obj.prompts.positive, *obj.prompts.negative])))
        qtbot.waitUntil(lambda: "preparing this image for edits" in window.statusBar().currentMessage(),
                        timeout=10_000)
    assert "decoded again" in window.statusBar().currentMessage()
    window.close()


# ------------------------------------------------------------------ 3. error banners go with their image
def test_an_error_banner_about_a_corrupt_image_goes_when_another_image_is_shown(qtbot, tmp_path, engine):
    images, labels = demo_copy(tmp_path, ["coco_00", "coco_07"])
    data = (images / "coco_00.png").read_bytes()
    (images / "coco_00.png").write_bytes(data[: len(data) // 3])  # a truncated PNG
    window = make_window(qtbot, tmp_path, engine)
    assert window.open_dataset(images, labels, tmp_path / "out")
    click_entry(window, "coco_07")
    key(window, Qt.Key.Key_Escape)
    click_entry(window, "coco_00")
    qtbot.waitUntil(lambda: window.banner.isVisible(), timeout=TIMEOUT_MS)
    assert "coco_00" in window.banner.label.text() and window.notifier.standing[0].name == "ERROR"
    click_entry(window, "coco_07")
    assert not window.banner.isVisible()
    key(window, Qt.Key.Key_Escape)
    # an error that is about no image (a model that cannot load) stays when another image is shown
    broken = tmp_path / "broken.pth"
    broken.write_bytes(b"not a checkpoint")
    model = window.controller.model
    window.settings_flow.apply(RefineSettings(model.model_type, broken, "cpu", model.config))
    qtbot.waitUntil(lambda: "model not loaded" in window.banner.label.text(), timeout=TIMEOUT_MS)
    click_entry(window, "coco_00")
    assert window.banner.isVisible() and "model not loaded" in window.banner.label.text()
    window.close()


# ------------------------------------------------------------------ 4. layout with long GT totals
def test_long_gt_totals_never_widen_the_file_list_nor_cut_the_review_buttons(qtbot, tmp_path, engine):
    window = make_window(qtbot, tmp_path, engine)  # the default size
    assert window.open_dataset(VOC / "image", VOC / "coarse16", tmp_path / "out")
    key(window, Qt.Key.Key_Escape)
    assert window.gt.open(VOC / "label")  # no class count: the totals line says it was inferred
    qtbot.waitUntil(lambda: not window.gt.busy, timeout=30_000)
    QApplication.processEvents()
    totals = window.gt.status_label
    assert "inferred" in totals.text() and totals.wordWrap()
    for size in (None, (1024, 700)):
        if size is not None:
            window.resize(*size)
        for _ in range(5):
            QApplication.processEvents()
            qtbot.wait(20)
        assert window.docks[0].width() <= 0.3 * window.width(), (size, window.docks[0].width())
        assert totals.width() <= window.docks[0].width()
        assert totals.height() >= totals.heightForWidth(totals.width())  # wrapped, all of it shown
        review = window.docks[1].widget()
        for widget in [*review.findChildren(QAbstractButton), *review.findChildren(QLabel)]:
            if widget.isVisible() and widget.text():
                assert widget.width() >= widget.minimumSizeHint().width(), (size, widget.text(), widget.width())
        for button in (window.object_panel.accept_button, window.object_panel.reject_button,
                       window.object_panel.auto_button):
            assert button.width() >= button.fontMetrics().horizontalAdvance(button.text()) + 8, (size, button.text())
    window.close()

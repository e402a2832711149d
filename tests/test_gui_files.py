"""The app's files and the rules behind them (issue 8, items 3, 4, 5, 8, 9): class changes of baseline-kept
objects, umask permissions, "edited" only while a change is in effect, write failures that lose nothing,
corrupt session / edits files set aside. Model-level tests on real refinements, then the real window."""

from __future__ import annotations

import copy
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import DEMO, ROOT

from uosam_core.atomic import current_umask
from uosam_core.config import GroConfig, RefineConfig
from uosam_core.image_io import InputError, read_image, read_labels
from uosam_core.pipeline import Refiner
from uosam_gui.document import NO_EDIT, ImageDocument
from uosam_gui.export import LOG_NAME, export_folder
from uosam_gui.output_files import read_edits_file, write_edits_file
from uosam_gui.session import SESSION_NAME, SaveError, Session, writable_problem

KEY = "coco_00"
NO_GRO = RefineConfig(gro=GroConfig(profile="off"))


def umask_mode(path: Path) -> bool:
    """Whether a written file has the permissions a new file gets under the umask (0644 under 022)."""
    return stat.S_IMODE(path.stat().st_mode) == 0o666 & ~current_umask()


def one_image_dataset(root: Path, key: str = KEY) -> tuple[Path, Path]:
    images, labels = root / "images", root / "labels"
    images.mkdir(parents=True)
    labels.mkdir()
    shutil.copy(DEMO / "images" / f"{key}.png", images)
    shutil.copy(DEMO / "labels" / f"{key}.png", labels)
    shutil.copy(DEMO / "classes.json", labels)
    return images, labels


@pytest.fixture(scope="module")
def refined(engine):
    """(refiner, image, refinement, label format) of the first demo image, refined once (no GRO)."""
    refiner = Refiner(engine, NO_GRO)
    image = read_image(DEMO / "images" / f"{KEY}.png")
    baseline, label_format = read_labels(DEMO / "labels" / f"{KEY}.png")
    return refiner, image, refiner.refine(image, baseline), label_format


@pytest.fixture
def document(refined) -> ImageDocument:
    refiner, image, result, label_format = refined
    return ImageDocument(KEY, image, copy.deepcopy(result), label_format, refiner)


def damage_inside(data: bytes) -> bytes:
    """The bytes of a zip file with 8 bytes of its compressed data inverted (directory intact)."""
    damaged = bytearray(data)
    middle = len(damaged) // 3
    damaged[middle:middle + 8] = bytes(value ^ 0xFF for value in damaged[middle:middle + 8])
    return bytes(damaged)


def owned_pixels(document: ImageDocument, index: int) -> np.ndarray:
    """Baseline pixels of object ``index`` that no used (refined) object claims."""
    claimed = np.zeros(document.labels.shape, bool)
    for obj in document.objects:
        if obj.uses_refined:
            claimed |= obj.step2_mask
    return document.objects[index].baseline_mask & ~claimed


# ---------------------------------------------------------------------------------------- item 3
def test_class_change_of_a_baseline_kept_object_repaints_the_pixels_it_still_owns(document):
    kept = next(obj for obj in document.objects if not obj.uses_refined)  # auto-rejected
    used = next(obj for obj in document.objects if obj.uses_refined and obj.index != kept.index)
    before, baseline = document.labels.copy(), document.result.baseline.copy()
    new_class = next(c for c in range(27) if not (before == c).any())
    owned = owned_pixels(document, kept.index)
    assert owned.sum() > 100

    document.set_class(kept.index, new_class)
    assert (document.labels[owned] == new_class).all() and (document.result.lro_labels[owned] == new_class).all()
    np.testing.assert_array_equal(document.labels[~owned], before[~owned])
    np.testing.assert_array_equal(document.result.baseline, baseline)  # the input is never modified
    assert document.is_edited

    # rejecting a used object: it keeps its baseline pixels, and a class change moves with them
    document.set_decision(used.index, "reject")
    document.set_class(used.index, new_class)
    assert (document.labels[owned_pixels(document, used.index)] == new_class).all()
    # accepting it again: its refined mask carries the class, its baseline pixels outside it do not
    document.set_decision(used.index, "accept")
    refined = document.objects[used.index].step2_mask
    for obj in document.objects:  # smaller used objects are painted on top of it
        if obj.uses_refined and obj.area < used.area:
            refined &= ~obj.step2_mask
    assert refined.sum() > 100 and (document.labels[refined] == new_class).all()
    for _ in range(4):
        document.undo()
    np.testing.assert_array_equal(document.labels, before)
    assert not document.is_edited


# ---------------------------------------------------------------------------------------- item 9 / 8
def test_undone_changes_are_not_edited_and_every_written_file_gets_umask_permissions(document, tmp_path):
    images, labels = one_image_dataset(tmp_path)
    session = Session.open(images, labels, tmp_path / "out")
    record = session.records[KEY]
    stroke = np.zeros(document.labels.shape, bool)
    stroke[10:30, 10:40] = True
    document.set_decision(0, "reject")
    document.paint(stroke, 9)
    session.record_document(document)
    session.save()
    edits = session.edits_path(KEY)
    assert record.state == "edited" and record.pixel_edits == stroke.sum() and edits.is_file()
    assert umask_mode(edits) and umask_mode(session.path)
    saved = session.save_labels(document)
    assert umask_mode(saved)

    document.undo()
    document.undo()
    session.record_document(document)
    assert record.state == "reviewed" and record.objects == {} and record.pixel_edits == 0  # saved, then undone
    assert not edits.exists()
    record.saved = False
    session.record_document(document)
    assert record.state == "refined"

    for unreviewed in ("refined", "baseline"):
        log = export_folder(session, document.refiner, tmp_path / unreviewed, unreviewed=unreviewed,
                            documents={KEY: document})
        entry = log["entries"][0]
        assert entry["source"] == f"{unreviewed} (not reviewed)" and entry["pixel_edits"] == 0
        assert umask_mode(tmp_path / unreviewed / f"{KEY}.png") and umask_mode(tmp_path / unreviewed / LOG_NAME)
    document.redo()
    log = export_folder(session, document.refiner, tmp_path / "edited", unreviewed="baseline",
                        documents={KEY: document})
    assert log["entries"][0]["source"] == "edited"
    np.testing.assert_array_equal(read_labels(tmp_path / "edited" / f"{KEY}.png")[0], document.labels)


# ---------------------------------------------------------------------------------------- item 4
def test_writable_problem_names_the_folder_that_cannot_be_written(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    problem = writable_problem(blocker / "out")
    assert problem is not None and str(blocker / "out") in problem and "\n" not in problem
    assert "is a file" in problem
    assert writable_problem(blocker) is not None  # an existing file is no output folder either
    assert writable_problem(tmp_path / "new" / "deeper") is None  # creatable
    assert writable_problem(tmp_path) is None
    assert list(tmp_path.iterdir()) == [blocker]  # the probe leaves nothing behind
    with pytest.raises(InputError, match="a-file"):
        Session.open(DEMO / "images", DEMO / "labels", blocker / "out")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a 0o555 folder; the path-under-a-file case "
                                              "in the test above covers the check as root")
def test_writable_problem_sees_a_read_only_folder(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    try:
        assert "not writable" in writable_problem(locked)
        assert "cannot be created" in writable_problem(locked / "out")
    finally:
        locked.chmod(0o755)


def test_write_failures_raise_one_line_and_lose_nothing(document, tmp_path):
    images, labels = one_image_dataset(tmp_path)
    out = tmp_path / "out"
    session = Session.open(images, labels, out)
    session.save()
    stroke = np.zeros(document.labels.shape, bool)
    stroke[40:60, 40:80] = True
    document.set_class(0, 5)
    document.paint(stroke, 9)
    edits_before = document.pixel_edits.copy()
    out.rename(tmp_path / "out-away")
    out.write_text("the output folder became a file")  # unwritable even for root

    for attempt in (session.save, lambda: session.record_document(document), lambda: session.save_labels(document)):
        with pytest.raises(SaveError) as failure:
            attempt()
        message = str(failure.value)
        assert "\n" not in message and str(out) in message
    assert KEY in session.unsaved and str(out) in session.unsaved[KEY]
    record = session.records[KEY]  # the record and the document keep everything in memory
    assert record.pixel_edits == stroke.sum() and record.objects["0"]["class_id"] == 5 and not record.saved
    np.testing.assert_array_equal(document.pixel_edits, edits_before)
    with pytest.raises(SaveError, match="a file"):
        export_folder(session, document.refiner, out / "export", documents={KEY: document})

    out.unlink()  # the folder is back: the next save writes everything
    (tmp_path / "out-away").rename(out)
    session.save_labels(document)
    session.save()
    assert session.unsaved == {} and record.saved
    np.testing.assert_array_equal(read_edits_file(session.edits_path(KEY)), edits_before)
    np.testing.assert_array_equal(read_labels(session.output_path(KEY))[0], document.labels)
    assert json.loads(session.path.read_text())["records"][KEY]["pixel_edits"] == stroke.sum()


# ---------------------------------------------------------------------------------------- item 5
def test_a_corrupt_session_file_is_kept_aside_and_the_session_starts_fresh(tmp_path):
    images, labels = one_image_dataset(tmp_path)
    out = tmp_path / "out"
    session = Session.open(images, labels, out)
    session.current = KEY
    session.save()
    truncated = session.path.read_bytes()[:50]
    session.path.write_bytes(truncated)
    fresh = Session.open(images, labels, out)
    backups = list(out.glob(f"{SESSION_NAME}.bad-*"))
    assert len(backups) == 1 and backups[0].read_bytes() == truncated
    assert len(fresh.notices) == 1 and "\n" not in fresh.notices[0]
    assert str(session.path) in fresh.notices[0] and backups[0].name in fresh.notices[0]
    assert fresh.records[KEY].state == "not run" and fresh.current is None
    fresh.save()
    assert Session.open(images, labels, out).notices == []


def session_with_a_stroke(document: ImageDocument, root: Path) -> tuple[Session, Path, Path, Path, np.ndarray]:
    """A saved one-image session whose document has a class-9 brush stroke: (session, images, labels,
    out, stroke mask)."""
    images, labels = one_image_dataset(root)
    out = root / "out"
    session = Session.open(images, labels, out)
    stroke = np.zeros(document.labels.shape, bool)
    stroke[5:25, 5:25] = True
    document.paint(stroke, 9)
    session.record_document(document)
    session.save()
    return session, images, labels, out, stroke


def test_pixel_edits_survive_a_lost_session_file(document, refined, tmp_path):
    """A user trial: after a truncated session file the edits file was ignored and the next save
    overwrote the edited labels. The edits are now taken back and said so."""
    session, images, labels, out, stroke = session_with_a_stroke(document, tmp_path)
    session.path.write_bytes(session.path.read_bytes()[:40])
    reopened = Session.open(images, labels, out)
    assert len(reopened.notices) == 2 and "taken back" in reopened.notices[1]
    assert reopened.records[KEY].state == "edited" and reopened.records[KEY].pixel_edits > 0
    refiner, image, result, label_format = refined
    fresh = ImageDocument(KEY, image, copy.deepcopy(result), label_format, refiner)
    reopened._restore(fresh, reopened.records[KEY])
    assert (fresh.labels[stroke] == 9).all()


def test_a_truncated_edits_file_is_kept_aside_at_open(document, tmp_path):
    session, images, labels, out, stroke = session_with_a_stroke(document, tmp_path)
    edits = session.edits_path(KEY)
    intact = edits.read_bytes()

    edits.write_bytes(intact[: len(intact) // 2])  # truncated: seen at open
    reopened = Session.open(images, labels, out)
    assert len(reopened.notices) == 1 and "opens without its pixel edits" in reopened.notices[0]
    assert not edits.exists() and len(list(edits.parent.glob(f"{edits.name}.bad-*"))) == 1
    assert reopened.records[KEY].pixel_edits == 0

    # damaged inside the compressed data (zip directory intact): passes the cheap check at open, and is set
    # aside when the image opens (the window test below opens one)
    edits.write_bytes(damage_inside(intact))
    assert Session.open(images, labels, out).notices == []
    with pytest.raises(ValueError, match="unreadable pixel edits"):
        read_edits_file(edits)


def test_app_start_with_an_unwritable_output_folder_exits_with_one_line(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    completed = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), str(DEMO / "images"), str(DEMO / "labels"), "--out",
         str(blocker / "out"), "--screenshot", str(tmp_path / "shot.png"), "--timeout", "60"],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": str(tmp_path / "config")})
    assert completed.returncode == 1, completed.stderr[-2000:]  # an exit code, not a signal
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1 and str(blocker / "out") in lines[0], completed.stderr[-2000:]
    assert not (tmp_path / "shot.png").exists()


# ---------------------------------------------------------------------------------------- the real window
def session_state(out: Path) -> str | None:
    """The image's state as the session file on disk says (written by the window's autosave)."""
    try:
        return json.loads((out / SESSION_NAME).read_text())["records"][KEY]["state"]
    except (OSError, ValueError, KeyError):
        return None


def test_window_class_change_undo_save_and_a_damaged_edits_file(qtbot, tmp_path):
    from PySide6.QtCore import QPointF, QSettings, Qt
    from PySide6.QtTest import QTest

    from uosam_gui.controller import RefineController
    from uosam_gui.main_window import MainWindow

    images, labels = one_image_dataset(tmp_path)
    out = tmp_path / "out"
    # an earlier session whose pixel edits file got damaged inside (its zip directory is intact)
    earlier = Session.open(images, labels, out)
    earlier.records[KEY].state, earlier.records[KEY].pixel_edits = "edited", 100
    earlier.save()
    edits = earlier.edits_path(KEY)
    stored = np.full(read_labels(labels / f"{KEY}.png")[0].shape, NO_EDIT, np.int32)
    stored[:10, :10] = 3
    write_edits_file(edits, stored)
    edits.write_bytes(damage_inside(edits.read_bytes()))

    window = MainWindow(RefineController(device="cpu", config=NO_GRO),
                        QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    window.show()
    # item 5: a truncated session file (another data set) is kept aside, the data set opens, the user is told
    other_images, other_labels = one_image_dataset(tmp_path / "other", "coco_03")
    (tmp_path / "other" / "out").mkdir()
    (tmp_path / "other" / "out" / SESSION_NAME).write_text('{"version": 1, "records": {"coco_0')
    assert window.open_dataset(other_images, other_labels, tmp_path / "other" / "out")
    assert any(f"kept as {SESSION_NAME}.bad-" in message for message in window.messages)
    assert len(list((tmp_path / "other" / "out").glob(f"{SESSION_NAME}.bad-*"))) == 1

    assert window.open_dataset(images, labels, out)
    qtbot.waitUntil(lambda: window.document is not None or session_state(out) == "error", timeout=240_000)
    document = window.document
    assert document is not None and (document.pixel_edits == NO_EDIT).all()  # item 5: the image opens
    assert len(list(edits.parent.glob(f"{edits.name}.bad-*"))) == 1
    assert any("opens without its pixel edits" in message for message in window.messages)
    before = document.labels.copy()

    # item 3: select an auto-rejected object in the table, give it a class not in the image (class box, End key)
    kept = next(obj for obj in document.objects if not obj.uses_refined)
    table = window.object_panel.table
    QTest.mouseClick(table.viewport(), Qt.MouseButton.LeftButton,
                     pos=table.visualItemRect(table.item(kept.index, 0)).center())
    assert window.selected == kept.index
    combo = window.object_panel.class_combo
    QTest.keyClick(combo, Qt.Key.Key_End)
    new_class = int(combo.currentData())
    assert document.objects[kept.index].class_id == new_class and not (before == new_class).any()
    owned = owned_pixels(document, kept.index)
    assert (document.labels[owned] == new_class).all()
    legend = [window.legend.item(row).text() for row in range(window.legend.count())]
    assert any(text.startswith(window.classes.name(new_class)) for text in legend)

    # item 9: a fill (F, then a click on the canvas), both undone: no longer "edited", edits file gone
    def widget_point(x: float, y: float):
        return window.canvas.mapFromScene(window.canvas.view.mapViewToScene(QPointF(x, y)))

    QTest.keyClick(window, Qt.Key.Key_F)
    x, y = 20.5, float(document.labels.shape[0]) - 20.5
    label_before = int(document.labels[int(y), int(x)])
    QTest.mouseClick(window.canvas.viewport(), Qt.MouseButton.LeftButton, pos=widget_point(x, y))
    assert int(document.labels[int(y), int(x)]) != label_before
    qtbot.waitUntil(lambda: edits.is_file() and session_state(out) == "edited", timeout=10_000)
    assert umask_mode(edits) and umask_mode(out / SESSION_NAME)  # item 8
    for _ in range(2):
        QTest.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    np.testing.assert_array_equal(document.labels, before)
    qtbot.waitUntil(lambda: session_state(out) == "refined", timeout=10_000)
    assert not edits.exists()

    # redo both, Ctrl+S: the saved PNG has the object's new class, with umask permissions
    for _ in range(2):
        QTest.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    QTest.keyClick(window, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    saved = out / f"{KEY}.png"
    np.testing.assert_array_equal(read_labels(saved)[0], document.labels)
    assert (read_labels(saved)[0][owned] == new_class).all() and umask_mode(saved)
    window.close()

"""The GUI's Qt-free state: document edits and undo, session records, export, class tables."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
from conftest import DEMO, load_demo

from uosam_core.config import GroConfig, RefineConfig
from uosam_core.image_io import read_labels
from uosam_core.pipeline import Refiner
from uosam_gui.classes import ClassTable
from uosam_gui.document import NO_EDIT, ImageDocument
from uosam_gui.export import LOG_NAME, export_folder
from uosam_gui.session import Session


def test_core_and_gui_models_never_import_qt():
    modules = ["uosam_core", "uosam_core.cli", "uosam_core.batch", "uosam_core.pipeline", "uosam_gui.document",
               "uosam_gui.session", "uosam_gui.export", "uosam_gui.classes", "uosam_gui.output_files"]
    code = (f"import importlib, sys\nfor m in {modules!r}: importlib.import_module(m)\n"
            "print([m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'shiboken6')])")
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[]"


@pytest.fixture(scope="module")
def lro_document(engine, demo_stems):
    refiner = Refiner(engine, RefineConfig(gro=GroConfig(profile="off")))
    image, baseline, _ = load_demo(demo_stems[0])
    _, label_format = read_labels(DEMO / "labels" / f"{demo_stems[0]}.png")
    result = refiner.refine(image, baseline)  # refined once; each document gets its own copy
    return lambda: ImageDocument(demo_stems[0], image, copy.deepcopy(result), label_format, refiner)


def test_pixel_tools_write_ids_and_undo_exactly(lro_document):
    document = lro_document()
    original = document.labels.copy()
    stroke = np.zeros(original.shape, bool)
    stroke[20:40, 30:60] = True
    assert document.paint(stroke, 9)
    assert (document.labels[stroke] == 9).all() and (document.labels[~stroke] == original[~stroke]).all()
    assert document.is_edited and (document.pixel_edits != NO_EDIT).sum() == stroke.sum()
    assert not document.paint(stroke, 9)  # the same stroke again changes nothing and records nothing
    region_class = int(original[100, 100])
    region_before = document.labels == region_class
    assert document.fill(100, 100, 4)
    filled = document.labels == 4
    assert filled[100, 100] and filled.sum() <= region_before.sum() + (original == 4).sum()
    assert document.undo() == "fill"
    assert document.undo() == "brush"
    np.testing.assert_array_equal(document.labels, original)
    assert not document.is_edited
    assert document.redo() == "brush"
    assert (document.labels[stroke] == 9).all()
    document.set_decision(0, "reject")  # a new change clears the redo stack
    assert document.redo() is None
    with pytest.raises(ValueError, match="does not match"):
        document.paint(np.ones((3, 3), bool), 1)
    with pytest.raises(ValueError, match="decision"):
        document.set_decision(0, "maybe")


def test_decisions_and_class_changes_recompose_and_are_recorded(lro_document):
    document = lro_document()
    used = next(obj for obj in document.objects if obj.uses_refined and (obj.step2_mask != obj.baseline_mask).any())
    before = document.labels.copy()
    document.set_decision(used.index, "reject")
    assert not np.array_equal(document.labels, before)
    document.set_class(used.index, 9)
    records = document.object_records()
    assert records[str(used.index)] == {"baseline_class": used.class_id, "class_id": 9, "decision": "reject",
                                        "prompts": None}
    document.set_decision(used.index, "accept")
    assert (document.labels[document.objects[used.index].step2_mask] == 9).any()
    document.undo()
    document.undo()
    document.undo()
    np.testing.assert_array_equal(document.labels, before)
    assert document.object_records() == {}


def test_export_gives_unreviewed_images_their_refinement(engine, tmp_path):
    images, labels = tmp_path / "images", tmp_path / "labels"
    images.mkdir()
    labels.mkdir()
    shutil.copy(DEMO / "images" / "coco_07.png", images)
    shutil.copy(DEMO / "labels" / "coco_07.png", labels)
    (images / "lonely.png").write_bytes((DEMO / "images" / "coco_03.png").read_bytes())
    session = Session.open(images, labels, tmp_path / "out")
    refiner = Refiner(engine, RefineConfig(gro=GroConfig(profile="off")))  # GRO: tests/test_gro.py
    log = export_folder(session, refiner, tmp_path / "export", unreviewed="refined")
    image, baseline, _ = load_demo("coco_07")
    expected = refiner.refine(image, baseline).labels
    written, label_format = read_labels(tmp_path / "export" / "coco_07.png")
    np.testing.assert_array_equal(written, expected)
    assert label_format.mode == "P"
    assert [entry["source"] for entry in log["entries"]] == ["refined (not reviewed)"]
    assert log["skipped"] == [{"key": "lonely", "problem": f"{images / 'lonely.png'}: no label for this image"}]
    assert json.loads((tmp_path / "export" / LOG_NAME).read_text())["entries"][0]["key"] == "coco_07"
    with pytest.raises(ValueError, match="unreviewed"):
        export_folder(session, refiner, tmp_path / "export", unreviewed="maybe")


def test_session_refuses_writing_into_inputs_and_bad_files(tmp_path):
    with pytest.raises(ValueError, match="output folder"):
        Session.open(DEMO / "images", DEMO / "labels", DEMO / "labels")
    with pytest.raises(ValueError, match="not found"):
        Session.open(tmp_path / "nowhere", DEMO / "labels", tmp_path / "out")
    broken = tmp_path / "uosam-session.json"
    broken.write_text("{not json")
    with pytest.raises(ValueError, match="uosam-session.json: not a readable uosam session"):
        Session.load(broken)


def test_class_table_reads_names_and_palette():
    classes = ClassTable.discover(DEMO / "labels")
    assert classes.name(7) == "7 animal" and classes.name(255) == "255 ignore"
    assert classes.num_classes == 27 and len(classes.class_ids()) == 27
    palette = json.loads((DEMO / "classes.json").read_text())["palette"]
    assert tuple(classes.colors[3]) == tuple(palette[3])
    rgba = classes.rgba(np.array([[3, 255], [-1, 0]]))
    assert tuple(rgba[0, 0]) == (*palette[3], 255) and rgba[0, 1, 3] == 0 and rgba[1, 0, 3] == 0
    unnamed = ClassTable.discover(None, label_palette=None)
    assert unnamed.name(5) == "5" and len({tuple(c) for c in unnamed.colors[:20]}) == 20
    assert replace(unnamed, names=["a"]).name(0) == "0 a"


def test_reopening_a_session_retries_images_whose_files_were_fixed(tmp_path):
    images, labels = tmp_path / "images", tmp_path / "labels"
    images.mkdir()
    labels.mkdir()
    shutil.copy(DEMO / "images" / "coco_00.png", images)
    session = Session.open(images, labels, tmp_path / "out")
    assert session.records["coco_00"].state == "error" and "no label" in session.records["coco_00"].error
    session.current = "coco_00"
    session.save()
    shutil.copy(DEMO / "labels" / "coco_00.png", labels)
    again = Session.open(images, labels, tmp_path / "out")
    record = again.records["coco_00"]
    assert (record.state, record.error, record.label) == ("not run", None, str(labels / "coco_00.png"))
    assert again.current == "coco_00"


def test_gui_command_line_needs_both_folders_and_names_a_default_output(tmp_path, capsys):
    from uosam_gui.app import _dataset, build_parser, main

    assert main([str(tmp_path)]) == 2
    assert "give both IMAGES and LABELS" in capsys.readouterr().err
    args = build_parser().parse_args([str(tmp_path / "img"), str(tmp_path / "lab")])
    assert _dataset(args)[2] == tmp_path / "lab-uosam"
    demo = _dataset(build_parser().parse_args(["--demo", "--out", str(tmp_path / "s")]))
    assert demo == (DEMO / "images", DEMO / "labels", tmp_path / "s")

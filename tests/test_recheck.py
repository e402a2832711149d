"""A change of the baseline check's bars judges the stored refinement again, without running SAM: in a
folder run (the records say so) and when the app opens an image; ``--overwrite`` refines again."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from conftest import SHARED

from uosam_core.batch import run_folder
from uosam_core.config import RefineConfig
from uosam_core.image_io import read_image, read_labels
from uosam_core.pipeline import Refiner
from uosam_core.result_store import ResultStore, load_or_refine

CAMVID = SHARED / "camvid-val"
STEM = "0016E5_08091"  # coarse8: kept by the redrawn-edge bar (moved gain ~1.58 < 1.62), refined at 1.5
DEFAULTS = RefineConfig(ignore_ids=(11,))
LOOSER = replace(DEFAULTS, precision=replace(DEFAULTS.precision, min_moved_edge_gain=1.5))


@pytest.fixture
def pair(tmp_path):
    images, labels = tmp_path / "images", tmp_path / "labels"
    images.mkdir()
    labels.mkdir()
    (images / f"{STEM}.png").write_bytes((CAMVID / "image" / f"{STEM}.png").read_bytes())
    (labels / f"{STEM}.png").write_bytes((CAMVID / "coarse8" / f"{STEM}.png").read_bytes())
    return images, labels


@pytest.fixture(scope="module")
def looser_refinement(engine):
    image = read_image(CAMVID / "image" / f"{STEM}.png")
    baseline, _ = read_labels(CAMVID / "coarse8" / f"{STEM}.png")
    return Refiner(engine, LOOSER).refine(image, baseline).labels


def no_sam(engine, monkeypatch):
    """Make any encode or decode of ``engine`` fail the test."""
    def refuse(*args, **kwargs):
        raise AssertionError("SAM ran although only the check's bars changed")

    monkeypatch.setattr(engine, "encode", refuse)
    monkeypatch.setattr(engine, "decode", refuse)


def run(engine, config, images, labels, out, **options):
    lines: list[str] = []
    summary = run_folder(Refiner(engine, config), images, labels, out, progress=False, report=lines.append, **options)
    return summary, lines


def output(out):
    return read_labels(out / f"{STEM}.png")[0]


def test_a_folder_run_with_other_bars_judges_the_stored_refinement_again(engine, pair, tmp_path, monkeypatch,
                                                                         looser_refinement):
    images, labels = pair
    out = tmp_path / "out"
    baseline = read_labels(labels / f"{STEM}.png")[0]
    first, _ = run(engine, DEFAULTS, images, labels, out)
    stats = first.written[0]["stats"]
    assert stats["baseline_kept"] and not stats["from_store"]
    assert stats["baseline_check"]["failed"] == "moved_edge_gain"
    assert np.array_equal(output(out), baseline)

    with monkeypatch.context() as patch:
        no_sam(engine, patch)
        looser, lines = run(engine, LOOSER, images, labels, out)
        assert lines == [f"redo {STEM}.png: settings changed: precision.min_moved_edge_gain 1.62 -> 1.5"]
        stats = looser.written[0]["stats"]
        assert stats["from_store"] and not stats["baseline_kept"]
        assert stats["baseline_check"]["moved_required"] == 1.5 and stats["baseline_check"]["passed"]
        assert np.array_equal(output(out), looser_refinement)  # what refining with these bars writes

        back, _ = run(engine, DEFAULTS, images, labels, out)
        assert back.written[0]["stats"]["from_store"] and back.written[0]["stats"]["baseline_kept"]
        assert np.array_equal(output(out), baseline)

    refined: list[int] = []
    encode = engine.encode
    monkeypatch.setattr(engine, "encode", lambda *args, **kwargs: refined.append(1) or encode(*args, **kwargs))
    again, lines = run(engine, DEFAULTS, images, labels, out, overwrite=True)
    assert refined and not again.written[0]["stats"]["from_store"]  # --overwrite refines again
    assert lines == [f"redo {STEM}.png: --overwrite"] and np.array_equal(output(out), baseline)


def test_the_app_opens_a_stored_image_with_other_bars_without_refining(engine, pair, tmp_path, monkeypatch,
                                                                       looser_refinement):
    images, labels = pair
    image_path, label_path = images / f"{STEM}.png", labels / f"{STEM}.png"
    image, baseline = read_image(image_path), read_labels(label_path)[0]
    store = ResultStore(tmp_path / "out")
    first = load_or_refine(store, STEM, image_path, label_path, image, baseline, Refiner(engine, DEFAULTS))
    assert not first.from_store and first.result.baseline_kept

    no_sam(engine, monkeypatch)
    looser = Refiner(engine, LOOSER)
    assert store.matching_summary(STEM, image_path, label_path, looser, "ids") is None  # other bars: not a match
    assert store.matching_summary(STEM, image_path, label_path, looser, "ids", other_bars=True)["other_bars"] is True
    opened = load_or_refine(store, STEM, image_path, label_path, image, baseline, looser)
    assert opened.from_store and opened.notices == ()
    assert not opened.result.baseline_kept and opened.result.precision.moved_required == 1.5
    assert np.array_equal(opened.result.labels, looser_refinement)
    summary = store.matching_summary(STEM, image_path, label_path, looser, "ids")  # kept under the new bars
    assert summary is not None and summary["baseline_kept"] is False and summary["other_bars"] is False


def test_an_unreadable_stored_result_is_named_in_one_line_and_the_image_refined(engine, pair, tmp_path):
    images, labels = pair
    out = tmp_path / "out"
    run(engine, DEFAULTS, images, labels, out)
    stored = ResultStore(out).path(STEM)
    stored.write_bytes(stored.read_bytes()[:100])  # truncated
    again, lines = run(engine, LOOSER, images, labels, out)
    assert lines[0].startswith("redo ") and len(lines) == 2
    assert lines[1].startswith(f"{stored}: stored result unreadable") and "refining" in lines[1]
    assert not again.written[0]["stats"]["from_store"] and not again.written[0]["stats"]["baseline_kept"]

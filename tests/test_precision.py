"""The baseline-precision check (issue 9, docs/decisions/0021): an image whose refined class edges lie on
image edges no stronger than its baseline's keeps its baseline, with the defaults; a user's change shows
the refinement, and undo returns to the kept baseline."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from conftest import SHARED, load_demo

from uosam_core.config import PrecisionConfig, RefineConfig
from uosam_core.image_io import read_image, read_labels
from uosam_core.pipeline import Refiner
from uosam_core.precision import EdgeMap, check_precision, class_edges
from uosam_core.result_store import ResultStore

CAMVID = SHARED / "camvid-val"
CAMVID_CONFIG = RefineConfig(ignore_ids=(11,))  # CamVid's void id
KEPT_STEM = "0016E5_08027"  # coarse8: refining moves its edges onto weaker image edges (gain ~0.95)
REDRAWN_STEM = "0016E5_08091"  # coarse8: whole-image gain ~1.15 (over 1.08), its redrawn edges only ~1.6x


def step_image(width: int = 96, height: int = 64, edge: int = 48, seed: int = 0) -> np.ndarray:
    """HxWx3 uint8: a dark left and a bright right half split at column ``edge``, with mild noise."""
    rng = np.random.default_rng(seed)
    image = np.full((height, width, 3), 60, np.float32)
    image[:, edge:] = 190
    image += rng.normal(0, 4, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def split_labels(width: int = 96, height: int = 64, edge: int = 48) -> np.ndarray:
    labels = np.zeros((height, width), np.int32)
    labels[:, edge:] = 1
    return labels


def test_class_edges_mark_both_sides_of_every_class_edge():
    labels = split_labels(8, 3, 4)
    assert class_edges(labels)[0].tolist() == [False, False, False, True, True, False, False, False]
    assert not class_edges(np.zeros((4, 4), np.int32)).any()


def test_refined_edges_on_the_image_edge_pass_and_edges_moved_off_it_fail():
    image, config = step_image(), PrecisionConfig()
    on_edge, off_edge = split_labels(edge=48), split_labels(edge=42)
    sharpened = check_precision(EdgeMap.of(image), off_edge, on_edge, config)
    assert sharpened.passed and sharpened.edge_gain > 2.0
    blurred = check_precision(EdgeMap.of(image), on_edge, off_edge, config)
    assert not blurred.passed and blurred.edge_gain < 0.5
    assert "baseline kept" in blurred.describe() and "refined" in sharpened.describe()
    unchanged = check_precision(EdgeMap.of(image), on_edge, on_edge.copy(), config)
    assert unchanged.passed and unchanged.edge_gain == 1.0


def test_added_detail_needs_the_higher_gain():
    """A refinement that adds edges (here: a second class edge inside a flat half) must sharpen more."""
    image = step_image()
    baseline = split_labels()
    refined = baseline.copy()
    refined[:, 20:] = np.where(refined[:, 20:] == 0, 2, refined[:, 20:])  # a new edge at x=20, on no image edge
    bars = PrecisionConfig(min_edge_gain=0.1, min_detail_edge_gain=0.9)
    check = check_precision(EdgeMap.of(image), baseline, refined, bars)
    assert check.contrast_ratio > 1.0 and check.required == 0.9 and not check.passed


def band_image(left: int, middle: int, right: int, width: int = 96, height: int = 64) -> np.ndarray:
    """HxWx3 uint8: three vertical bands of grey values split at x = 32 and x = 64, with mild noise."""
    rng = np.random.default_rng(1)
    image = np.full((height, width, 3), left, np.float32)
    image[:, 32:64], image[:, 64:] = middle, right
    return np.clip(image + rng.normal(0, 2, image.shape), 0, 255).astype(np.uint8)


def test_an_edge_redrawn_onto_a_barely_stronger_image_edge_keeps_the_baseline():
    """The street-label case (docs/decisions/0022): the baseline's edge already lies on an image edge and the
    refinement moves it to another one only a little stronger. The whole-image gain (~1.13) clears its bar;
    the redrawn edge (same length) must lie on gradients 1.62x as strong as the one it replaces."""
    baseline, refined = split_labels(edge=32), split_labels(edge=64)
    config = PrecisionConfig()
    slightly_stronger = check_precision(EdgeMap.of(band_image(20, 70, 135)), baseline, refined, config)
    assert slightly_stronger.edge_gain >= slightly_stronger.required  # the earlier rule let it through
    assert slightly_stronger.moved_length_ratio == pytest.approx(1.0)
    assert slightly_stronger.moved_required == config.min_moved_edge_gain
    assert 1.1 < slightly_stronger.moved_edge_gain < config.min_moved_edge_gain and not slightly_stronger.passed
    assert slightly_stronger.brief().startswith("redrawn edges 1.")
    assert slightly_stronger.failed_test() == "moved_edge_gain"
    just_under = replace(slightly_stronger, edge_gain=1.0754, required=1.08, passed=False)
    assert just_under.brief() == "edges 1.07x"  # rounded down: never reads as the bar it missed
    assert just_under.failed_test() == "edge_gain"
    assert "redrawn edges" in slightly_stronger.describe()
    much_stronger = check_precision(EdgeMap.of(band_image(20, 45, 235)), baseline, refined, config)
    assert much_stronger.moved_edge_gain > 3.0 and much_stronger.passed
    looser = replace(config, min_moved_edge_gain=1.1)
    assert check_precision(EdgeMap.of(band_image(20, 70, 135)), baseline, refined, looser).passed


def test_a_refinement_that_removes_edges_is_judged_by_the_whole_image_gain_only():
    """Simplifying (drawing under 0.7x the edge length it removes) is not a redraw: removing the baseline's
    edge on a weak image edge and keeping the strong one passes, whatever the moved gain."""
    image = band_image(20, 45, 235)  # weak edge at x = 32, strong at x = 64
    baseline = np.zeros((64, 96), np.int32)
    baseline[:, 32:64], baseline[:, 64:] = 1, 2
    refined = baseline.copy()
    refined[:, 32:64] = 0  # the weak edge is gone, no edge is drawn
    check = check_precision(EdgeMap.of(image), baseline, refined, PrecisionConfig())
    assert check.moved_length_ratio == 0.0 and check.moved_required is None and check.passed


def test_a_24_megapixel_image_is_checked_on_a_bounded_copy():
    """The check scales a large image down to 1024 px on its longer side: the verdict is the full-size one."""
    image = np.ascontiguousarray(np.repeat(np.repeat(step_image(), 64, 0), 64, 1))  # 4096 x 6144
    on_edge = np.repeat(np.repeat(split_labels(), 64, 0), 64, 1)
    off_edge = np.repeat(np.repeat(split_labels(edge=42), 64, 0), 64, 1)
    assert check_precision(EdgeMap.of(image), off_edge, on_edge, PrecisionConfig()).passed
    assert not check_precision(EdgeMap.of(image), on_edge, off_edge, PrecisionConfig()).passed


@pytest.fixture(scope="module")
def camvid_kept(engine):
    image = read_image(CAMVID / "image" / f"{KEPT_STEM}.png")
    baseline, _ = read_labels(CAMVID / "coarse8" / f"{KEPT_STEM}.png")
    refiner = Refiner(engine, CAMVID_CONFIG)
    return image, baseline, refiner, refiner.refine(image, baseline)


def test_near_exact_street_labels_keep_their_baseline_with_the_defaults(camvid_kept, engine):
    image, baseline, refiner, result = camvid_kept
    assert result.precision is not None and not result.precision.passed
    assert result.precision.edge_gain < result.precision.required
    assert result.baseline_kept and np.array_equal(result.labels, baseline)
    assert result.changes == [] and result.risk == 0.0
    assert result.objects and not any(obj.uses_refined for obj in result.objects)
    assert any(obj.accepted for obj in result.objects)  # the LRO verdicts stay, held back by the check
    assert result.gro is not None and not result.gro.mask_painted.any()
    unchecked = Refiner(engine, replace(CAMVID_CONFIG, precision=PrecisionConfig(enabled=False))).refine(
        image, baseline)
    assert not unchecked.baseline_kept and unchecked.precision == result.precision  # measured, not applied
    assert (unchecked.labels != baseline).mean() > 0.005  # the refinement the check held back

    # a user's choice of the refinement composes exactly what the check held back; undoing it keeps the baseline
    result.refine_anyway = True
    try:
        refiner.recompose(result)
        assert not result.baseline_kept and np.array_equal(result.labels, unchecked.labels)
        assert result.changes and result.risk > 0
    finally:
        result.refine_anyway = False
        refiner.recompose(result)
    assert result.baseline_kept and np.array_equal(result.labels, baseline)


def test_street_labels_whose_edges_refining_redraws_onto_barely_stronger_edges_keep_their_baseline(engine):
    """The 15 CamVid images that passed the whole-image bar (0021) and still lost to refining: their
    redrawn edges lie on gradients under 1.62x as strong as the baseline edges they replace."""
    image = read_image(CAMVID / "image" / f"{REDRAWN_STEM}.png")
    baseline, _ = read_labels(CAMVID / "coarse8" / f"{REDRAWN_STEM}.png")
    result = Refiner(engine, CAMVID_CONFIG).refine(image, baseline)
    check = result.precision
    assert check.edge_gain >= check.required  # the whole-image gain alone would refine it
    assert check.moved_required is not None and check.moved_length_ratio >= 0.7
    assert check.moved_edge_gain < check.moved_required and not check.passed
    assert result.baseline_kept and np.array_equal(result.labels, baseline)


def test_on_a_kept_image_accept_uses_that_object_alone_and_reject_changes_nothing(camvid_kept):
    """User trial: accepting the fence applied the whole refinement, and rejecting it (keep its baseline)
    changed the image more than accepting: the fence went to the tree object."""
    _, baseline, refiner, result = camvid_kept
    obj = next(o for o in result.objects if o.accepted)
    try:
        obj.decision = "reject"
        refiner.recompose(result)
        assert result.baseline_kept and np.array_equal(result.labels, baseline)
        obj.decision = "accept"
        refiner.recompose(result)
        changed = result.labels != baseline
        assert result.baseline_kept and changed.any() and obj.uses_refined
        assert not (changed & ~obj.step2_mask & ~obj.baseline_mask).any()  # that object's pixels only
        assert {(change.source.value, change.index) for change in result.changes} == {("lro", obj.index)}
    finally:
        obj.decision = "auto"
        refiner.recompose(result)
    assert np.array_equal(result.labels, baseline)


def test_the_verdict_is_stored_with_the_result(camvid_kept, tmp_path):
    _, baseline, _, result = camvid_kept
    store = ResultStore(tmp_path)
    store.save("street", "key", result)
    loaded = store.load("street", "key").result
    assert loaded.baseline_kept and loaded.precision == result.precision
    assert store.summary("street")["baseline_kept"] is True


def test_real_uss_labels_pass_the_check(engine, demo_stems):
    image, baseline, _ = load_demo(demo_stems[0])
    result = Refiner(engine).refine(image, baseline)
    assert result.precision.passed and not result.baseline_kept
    assert result.changed_fraction > 0.005


def test_the_choice_of_the_refinement_over_a_kept_baseline_survives_a_reopened_session(engine, tmp_path):
    pytest.importorskip("PySide6")
    from uosam_gui.session import Session

    images, labels = tmp_path / "images", tmp_path / "labels"
    images.mkdir()
    labels.mkdir()
    for folder, source in ((images, "image"), (labels, "coarse8")):
        (folder / f"{KEPT_STEM}.png").write_bytes((CAMVID / source / f"{KEPT_STEM}.png").read_bytes())
    refiner = Refiner(engine, CAMVID_CONFIG)
    session = Session.open(images, labels, tmp_path / "out")
    document = session.open_document(KEPT_STEM, refiner)
    baseline = document.result.baseline.copy()
    assert document.result.baseline_kept and not document.is_edited
    assert document.use_refinement() and document.is_edited
    refined = document.labels.copy()
    assert (refined != baseline).any()
    assert session.record_document(document).state == "edited"
    session.save()

    reopened = Session.open(images, labels, tmp_path / "out")
    again = reopened.open_document(KEPT_STEM, refiner)  # the stored result, the recorded choice on top
    assert again.result.refine_anyway and not again.result.baseline_kept
    assert np.array_equal(again.labels, refined)
    assert again.undo() is None  # a reopened image starts a fresh history; the choice is the state

import cv2
import numpy as np
import pytest
from conftest import load_demo

from uosam_core.config import RefineConfig
from uosam_core.gro import FAST_BATCH
from uosam_core.metrics import Evaluator
from uosam_core.pipeline import Cancelled, Refiner


@pytest.fixture(scope="module")
def demo_results(engine, demo_stems):
    refiner = Refiner(engine)
    results = {}
    for stem in demo_stems:
        image, baseline, truth = load_demo(stem)
        before = baseline.copy()
        results[stem] = (refiner.refine(image, baseline), truth)
        assert np.array_equal(before, baseline), "refine must not modify its input"
    return results


def test_refinement_improves_stego_labels_on_the_demo(demo_results):
    baseline_scores, refined_scores = Evaluator(27), Evaluator(27)
    for result, truth in demo_results.values():
        baseline_scores.add(result.baseline, truth)
        refined_scores.add(result.labels, truth)
    before, after = baseline_scores.scores(), refined_scores.scores()
    assert after.miou > before.miou + 1.0
    assert after.boundary_iou > before.boundary_iou


def test_result_keeps_every_intermediate(demo_results):
    result, _ = next(iter(demo_results.values()))
    shape = result.baseline.shape
    assert result.labels.shape == shape and result.lro_labels.shape == shape
    assert result.objects and all(obj.lcm.shape == shape for obj in result.objects)
    assert result.gro is not None and result.gro.profile == "fast"
    assert result.gro.vote_class.shape == shape and result.gro.vote_share.shape == shape
    areas = np.asarray(result.gro.masks).reshape(len(result.gro.masks), -1).sum(axis=1)
    assert (np.diff(areas) <= 0).all(), "masks are kept in painting order, largest first"
    assert np.array_equal(areas, result.gro.masks.areas)
    assert set(result.timings) >= {"encode", "lro", "gro"}
    assert (result.labels >= 0).all()


def test_compact_results_read_like_dense_arrays(demo_results):
    """Masks and LCMs are stored compact (issue 7.3); the dense fields the GUI reads keep their meaning."""
    from dataclasses import replace

    result, _ = next(iter(demo_results.values()))
    shape, gro = result.baseline.shape, result.gro
    dense = np.asarray(gro.masks)
    assert dense.shape == (len(gro.masks), *shape) and dense.dtype == bool
    assert all(np.array_equal(mask, stored) for mask, stored in zip(dense, gro.masks))
    expected_class, expected_share = np.full(shape, -1, np.int32), np.zeros(shape, np.float32)
    for mask, class_id, share, painted in zip(dense, gro.mask_classes, gro.mask_shares, gro.mask_painted):
        if painted:  # painted largest first: the last (smallest) mask over a pixel wins
            expected_class[mask], expected_share[mask] = class_id, share
    assert gro.mask_painted.any()
    np.testing.assert_array_equal(gro.vote_class, expected_class)
    np.testing.assert_array_equal(gro.vote_share, expected_share)
    voted = expected_class >= 0
    # a mask paints its class except over regions the coherence rule keeps (docs/decisions/0017): those
    # pixels keep their LRO class, and every such pixel lies in a region the rule could keep
    kept = voted & (result.labels != expected_class)
    assert np.array_equal(result.labels[kept], result.lro_labels[kept])
    from uosam_core.voting import vote

    plain = vote(result.lro_labels, gro.masks, ignore_ids=(255,), min_share=0.55, max_fraction=0.5)
    assert np.array_equal(plain.labels[voted], expected_class[voted])
    gradient = [cv2.morphologyEx(m.astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) for m in dense]
    np.testing.assert_array_equal(gro.masks.outline(), np.any(gradient, axis=0))  # the GUI's outline, per box
    rows, cols = np.nonzero(np.ones(shape, bool)[::17, ::13])
    for y, x in zip(rows * 17, cols * 13):
        assert gro.vote_at(int(x), int(y)) == (expected_class[y, x], pytest.approx(expected_share[y, x]))
    for obj in result.objects:
        for compact, full in ((obj.baseline, obj.baseline_mask), (obj.step2, obj.step2_mask)):
            assert full.shape == shape and full.dtype == bool and full.sum() == compact.area
            assert np.array_equal(full[compact.slices], compact.crop()) and full.sum() == full[compact.slices].sum()
        assert obj.lcm.dtype == np.float32 and max(obj.lcm_grid.values.shape) == 64  # the feature grid
        assert obj.area == obj.baseline_mask.sum()
        changed = replace(obj, decision="reject")
        assert changed.step2 is obj.step2 and changed.lcm_grid is obj.lcm_grid and not changed.uses_refined


def test_recompose_applies_a_rejection_without_decoding(engine, demo_results):
    result, _ = next(iter(demo_results.values()))
    refiner = Refiner(engine)
    target = next(obj for obj in result.objects if obj.uses_refined)
    encodes = engine.encode_count
    target.decision = "reject"
    try:
        refiner.recompose(result)
        assert engine.encode_count == encodes
        assert not target.uses_refined
    finally:
        target.decision = "auto"
        refiner.recompose(result)


def test_lro_and_gro_can_be_switched_off(engine, demo_stems):
    from dataclasses import replace

    image, baseline, _ = load_demo(demo_stems[0])
    config = RefineConfig()
    nothing = Refiner(engine, replace(config, lro=replace(config.lro, enabled=False),
                                      gro=replace(config.gro, profile="off"))).refine(image, baseline)
    assert np.array_equal(nothing.labels, baseline) and not nothing.objects and nothing.gro is None


def test_progress_reports_every_step_and_can_cancel(engine, demo_stems):
    image, baseline, _ = load_demo(demo_stems[1])
    engine.encode(image)  # cached: the stages, not the encode, are under test
    seen = []
    result = Refiner(engine).refine(image, baseline, progress=lambda stage, fraction: seen.append((stage, fraction)))
    stages = [stage for stage, _ in seen]
    assert stages[:3] == ["encode", "lro", "gro"] and stages[-1] == "done"
    assert stages.count("gro") == 1 + -(-result.gro.prompt_count // FAST_BATCH)  # the start, then every decoder batch
    fractions = [fraction for _, fraction in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0

    def stop_at_gro(stage, fraction):
        if stage == "gro":
            raise Cancelled()

    with pytest.raises(Cancelled):
        Refiner(engine).refine(image, baseline, progress=stop_at_gro)


def test_pause_points_run_between_encoder_blocks_and_decoder_chunks(engine, demo_stems):
    from uosam_core.embedding_cache import EmbeddingCache

    image, baseline, _ = load_demo(demo_stems[2])
    calls = []
    cache, engine.cache = engine.cache, EmbeddingCache(max_items=2)
    try:
        with engine.pause_points(lambda: calls.append(1), chunk=4):
            paused = Refiner(engine).refine(image, baseline)
        assert len(calls) > 12  # 12 TinyViT blocks, then decoder chunks of 4 prompts
        count = len(calls)
        plain = Refiner(engine).refine(image, baseline)  # outside the context: no pauses, same labels
        assert len(calls) == count
        np.testing.assert_array_equal(paused.labels, plain.labels)
    finally:
        engine.cache = cache


def test_every_changed_pixel_has_one_change_record_naming_its_step(demo_results):
    """Issue 9: the result says, per changed region, which object or mask changed it and on what evidence."""
    from uosam_core.changes import ChangeSource

    for result, _ in demo_results.values():
        changed = result.labels != result.baseline
        assert sum(change.pixels for change in result.changes) == int(changed.sum())
        assert {change.source for change in result.changes} <= set(ChangeSource)
        for change in result.changes[:10]:
            top, left, bottom, right = change.box
            window = (slice(top, bottom), slice(left, right))
            moved = (result.baseline[window] == change.from_class) & (result.labels[window] == change.to_class)
            assert moved.sum() >= change.pixels
            if change.source is ChangeSource.GRO:
                assert result.gro.mask_painted[change.index]
                assert result.gro.mask_classes[change.index] == change.to_class
                assert change.evidence == pytest.approx(result.gro.mask_shares[change.index], abs=1e-4)
            elif change.source is ChangeSource.LRO:
                obj = result.objects[change.index]
                assert obj.uses_refined and obj.class_id == change.to_class
        weak = sum(change.pixels * (1 - change.evidence) for change in result.changes) / result.baseline.size
        assert 0.0 <= result.risk <= float(changed.mean()) + 1e-9
        assert result.risk == pytest.approx(weak, abs=1e-5)

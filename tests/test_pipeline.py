import numpy as np
import pytest
from conftest import load_demo

from uosam_core.config import RefineConfig
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
    areas = result.gro.masks.reshape(len(result.gro.masks), -1).sum(axis=1)
    assert (np.diff(areas) <= 0).all(), "masks are kept in painting order, largest first"
    assert set(result.timings) >= {"encode", "lro", "gro"}
    assert (result.labels >= 0).all()


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
    assert stages.count("gro") == 1 + -(-result.gro.prompt_count // 16)  # the start, then every decoder batch
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

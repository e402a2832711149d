import numpy as np
import pytest

from uosam_core.config import LroConfig
from uosam_core.lcm import location_confidence_maps
from uosam_core.lro import compose_lro, lcm_prompts, redecode_object, run_lro
from uosam_core.objects import extract_objects, largest_component, mask_iou
from uosam_core.result import ObjectPrompts


@pytest.fixture(scope="module")
def lro_run(engine, demo_image):
    image, baseline, _ = demo_image
    embedding = engine.encode(image)
    objects = run_lro(engine, embedding, baseline, LroConfig(), ignore_ids=(255,), background_ids=())
    return embedding, baseline, objects


def test_lcm_is_higher_inside_the_object_than_outside(engine, demo_image):
    image, baseline, _ = demo_image
    embedding = engine.encode(image)
    objects = extract_objects(baseline, ignore_ids=(255,), background_ids=(), min_area=64, mode="class")
    masks = np.stack([mask.dense() for _, mask in objects])
    lcms = location_confidence_maps(masks, embedding)
    assert lcms.shape == (len(objects), *baseline.shape)
    assert lcms.min() >= -1.0001 and lcms.max() <= 1.0001
    for mask, lcm in zip(masks, lcms):
        assert lcm[mask].mean() > lcm[~mask].mean()


def test_prompts_sit_inside_and_outside_the_object(engine, demo_image):
    image, baseline, _ = demo_image
    embedding = engine.encode(image)
    class_id, compact = extract_objects(baseline, ignore_ids=(255,), background_ids=(), min_area=64, mode="class")[0]
    mask = compact.dense()
    lcm = location_confidence_maps(mask[None], embedding)[0]
    prompts = lcm_prompts(mask, lcm)
    (px, py), (nx, ny) = prompts.positive[0], prompts.negative[0]
    assert mask[int(py), int(px)] and not mask[int(ny), int(nx)]
    component = largest_component(mask)
    assert lcm[int(py), int(px)] == pytest.approx(lcm[component].max(), abs=1e-6)
    assert lcm[int(ny), int(nx)] == pytest.approx(lcm[~mask].min(), abs=1e-6)
    x0, y0, x1, y1 = prompts.box
    assert x0 <= px < x1 and y0 <= py < y1


def test_every_object_is_refined_and_judged_by_iou(lro_run):
    _, baseline, objects = lro_run
    expected = extract_objects(baseline, ignore_ids=(255,), background_ids=(), min_area=64, mode="class")
    assert [o.class_id for o in objects] == [c for c, _ in expected]
    for obj in objects:
        assert obj.step2_mask.shape == baseline.shape and obj.step2_mask.dtype == bool
        assert obj.step1_scores.shape == (3,)
        assert obj.iou_with_baseline == pytest.approx(mask_iou(obj.step2_mask, obj.baseline_mask))
        assert obj.lcm_contrast == pytest.approx(obj.lcm[obj.baseline_mask].mean() - obj.lcm[~obj.baseline_mask].mean())
        assert obj.accepted == (obj.iou_with_baseline >= LroConfig().iou_threshold and obj.lcm_contrast >= 0.15)
    assert any(obj.accepted for obj in objects)


def test_component_mode_splits_classes_into_pieces(demo_image):
    _, baseline, _ = demo_image
    by_class = extract_objects(baseline, ignore_ids=(255,), background_ids=(), min_area=1, mode="class")
    by_piece = extract_objects(baseline, ignore_ids=(255,), background_ids=(), min_area=1, mode="component")
    assert len(by_piece) >= len(by_class)
    assert sum(m.dense().sum() for _, m in by_piece) == sum(m.dense().sum() for _, m in by_class)
    for class_id, piece in by_piece:  # each piece, stored as its box and crop, lies inside its class
        assert (baseline[piece.dense()] == class_id).all() and piece.area == piece.dense().sum()


def test_background_ids_are_not_refined(demo_image):
    _, baseline, _ = demo_image
    largest = extract_objects(baseline, ignore_ids=(255,), background_ids=(), min_area=64, mode="class")[0][0]
    kept = extract_objects(baseline, ignore_ids=(255,), background_ids=(largest,), min_area=64, mode="class")
    assert largest not in [c for c, _ in kept]


def test_rejecting_an_object_restores_its_baseline_pixels(lro_run):
    _, baseline, objects = lro_run
    target = next(o for o in objects if o.accepted and not np.array_equal(o.step2_mask, o.baseline_mask))
    target.decision = "reject"
    try:
        labels = compose_lro(baseline, objects, LroConfig())
        others = [o.step2_mask for o in objects if o is not target and o.uses_refined]
        untouched = target.baseline_mask & ~np.any(others, axis=0) if others else target.baseline_mask
        assert untouched.any()
        assert (labels[untouched] == target.class_id).all()
        grown = target.step2_mask & ~target.baseline_mask & ~np.any(others, axis=0) if others else \
            target.step2_mask & ~target.baseline_mask
        assert np.array_equal(labels[grown], baseline[grown])
    finally:
        target.decision = "auto"


def test_compose_never_modifies_the_baseline(lro_run):
    _, baseline, objects = lro_run
    before = baseline.copy()
    compose_lro(baseline, objects, LroConfig(fallback="ignore"))
    assert np.array_equal(before, baseline)


def test_moving_the_positive_point_changes_only_that_object(engine, lro_run):
    embedding, _, objects = lro_run
    obj = objects[0]
    # move the positive point to the pixel of the object with the lowest LCM
    inside = np.where(obj.baseline_mask, obj.lcm, np.inf)
    row, col = np.unravel_index(np.argmin(inside), inside.shape)
    edited = ObjectPrompts(positive=[(col + 0.5, row + 0.5)], negative=[], box=None)
    updated = redecode_object(engine, embedding, obj, edited, LroConfig())
    assert updated.edited and updated.prompts == edited
    assert not np.array_equal(updated.step1_mask, obj.step1_mask)
    assert updated.step1_mask[row, col]
    with pytest.raises(ValueError, match="positive point or a box"):
        redecode_object(engine, embedding, obj, ObjectPrompts([], [(1.0, 1.0)], None), LroConfig())

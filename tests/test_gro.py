import cv2
import numpy as np
import pytest

from uosam_core.config import GroConfig, LroConfig
from uosam_core.gro import boundary_points, class_edges, clean_compact, clean_mask, fast_masks
from uosam_core.lro import compose_lro, run_lro
from uosam_core.voting import fill_unknown, vote, vote_maps


def test_a_mask_takes_the_majority_class_under_it():
    labels = np.zeros((10, 10), np.int32)
    labels[:, 7:] = 2
    mask = np.zeros((10, 10), bool)
    mask[:, 3:] = True  # 4 columns of class 0, 3 of class 2
    painted, classes, shares, used = vote(labels, mask[None], ignore_ids=(255,))
    assert classes.tolist() == [0] and shares[0] == pytest.approx(4 / 7) and used.tolist() == [True]
    assert (painted[mask] == 0).all() and (painted[:, :3] == 0).all()
    vote_class, vote_share = vote_maps(mask[None], classes, shares, used)
    assert (vote_class[mask] == 0).all() and (vote_class[~mask] == -1).all()
    assert vote_share[0, 5] == pytest.approx(4 / 7)


def test_smaller_masks_paint_over_larger_ones_and_ignore_does_not_vote():
    labels = np.full((10, 10), 255, np.int32)
    labels[:, :4] = 1
    labels[:, 8:] = 3
    big = np.ones((10, 10), bool)
    small = np.zeros((10, 10), bool)
    small[:, 6:] = True
    painted, classes, *_ = vote(labels, np.stack([big, small]), ignore_ids=(255,))
    assert classes.tolist() == [1, 3]
    assert (painted[:, :6] == 1).all() and (painted[:, 6:] == 3).all()


def test_minimum_vote_share_leaves_split_masks_alone():
    labels = np.zeros((4, 4), np.int32)
    labels[:, 2:] = 1
    mask = np.ones((4, 4), bool)
    painted, *_ = vote(labels, mask[None], ignore_ids=(), min_share=0.6)
    assert np.array_equal(painted, labels)


def test_unknown_pixels_take_the_nearest_class():
    labels = np.array([[1, -1, -1, 2]], np.int32)
    assert fill_unknown(labels).tolist() == [[1, 1, 2, 2]]


def test_boundary_points_stay_near_class_edges():
    labels = np.zeros((200, 200), np.int32)
    labels[:, 100:] = 1
    config = GroConfig(fast_points_per_side=20, boundary_band=0.05)
    points = boundary_points(labels, config)
    assert len(points) > 0
    assert (np.abs(points[:, 0] - 100) <= 0.05 * 200 + 1).all()
    assert class_edges(labels)[:, 99:101].all() and not class_edges(labels)[:, :98].any()


def test_fast_profile_spends_at_most_its_budget(engine, demo_image):
    image, baseline, _ = demo_image
    embedding = engine.encode(image)
    objects = run_lro(engine, embedding, baseline, LroConfig(), ignore_ids=(255,), background_ids=())
    lro_labels = compose_lro(baseline, objects, LroConfig())
    config = GroConfig(max_prompts=20)
    masks, scores, spent = fast_masks(engine, embedding, lro_labels, config)
    assert spent <= 20
    assert masks.dtype == bool and masks.shape[1:] == baseline.shape
    assert len(masks) == len(scores) and (scores > config.pred_iou_thresh).all()
    assert all(mask.sum() >= 1 for mask in masks)


# ---------------------------------------------------------------- valid labels with few or no GRO masks (issue 7.1)
def _refine(engine, image, labels, **gro):
    from dataclasses import replace

    from uosam_core.config import RefineConfig
    from uosam_core.pipeline import Refiner

    config = RefineConfig()
    return Refiner(engine, replace(config, gro=replace(config.gro, **gro))).refine(image, labels)


def test_a_single_class_label_refines_to_itself(engine, demo_image):
    image, _, _ = demo_image
    labels = np.full(image.shape[:2], 7, np.int32)
    result = _refine(engine, image, labels)  # no class edge: the GRO prompts nothing and keeps no mask
    assert np.array_equal(result.labels, labels)
    assert len(result.gro.masks) == 0 and result.gro.masks.shape == (0, *labels.shape)
    assert (result.gro.vote_class == -1).all() and result.gro.vote_at(3, 3) == (-1, 0.0)


@pytest.mark.parametrize("shape", [(1, 1), (1, 3000), (3000, 1)])
def test_images_of_one_pixel_or_one_line_refine(engine, demo_image, shape):
    image, _, _ = demo_image
    small = np.ascontiguousarray(np.resize(image[:1, :1], (*shape, 3)))
    labels = np.zeros(shape, np.int32)
    labels.reshape(-1)[labels.size // 2:] = 3  # two classes along the line (one class when 1x1)
    result = _refine(engine, small, labels)
    assert result.labels.shape == shape and set(np.unique(result.labels)) <= {0, 3}


def test_one_class_everywhere_except_ignore_pixels(engine, demo_image):
    image, _, _ = demo_image
    labels = np.full(image.shape[:2], 4, np.int32)
    labels[:, :3] = 255  # the only class edge: the GRO prompts there; a stability filter no mask passes keeps none
    result = _refine(engine, image, labels, max_prompts=4, stability_score_thresh=1.01)
    assert result.gro.prompt_count > 0 and len(result.gro.masks) == 0
    assert set(np.unique(result.labels)) <= {4, 255} and (result.labels[:, 3:] == 4).all()


def random_blobs(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """An HxW bool mask of ellipses (some beyond the border) with small holes and islands punched in."""
    mask = np.zeros((height, width), np.uint8)
    for _ in range(rng.integers(1, 6)):
        centre = (int(rng.integers(-20, width + 20)), int(rng.integers(-20, height + 20)))
        axes = (int(rng.integers(2, 80)), int(rng.integers(2, 80)))
        cv2.ellipse(mask, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    for _ in range(rng.integers(0, 8)):
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        cv2.circle(mask, centre, int(rng.integers(1, 8)), int(rng.integers(0, 2)), -1)
    return mask.astype(bool)


@pytest.mark.parametrize("size_range", [(100, 200), (20, 90)])  # the second: images below the area limit
def test_cleaning_inside_the_mask_box_equals_cleaning_the_whole_image(size_range):
    """Holes that reach the image border or the box edge, islands under the limit, masks smaller than
    the limit (the largest island is kept): the box-only clean gives SAM's whole-image result."""
    rng = np.random.default_rng(1)
    config = GroConfig()
    for _ in range(1500):
        height, width = (int(v) for v in rng.integers(*size_range, 2))
        mask = random_blobs(rng, height, width)
        expected = clean_mask(mask, config)
        cleaned = clean_compact(mask, config)
        assert np.array_equal(cleaned.dense(), expected)
        assert cleaned.area == int(expected.sum())

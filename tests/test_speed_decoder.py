"""The fused CPU mask decoder (uosam_core/models/fast_decoder.py) against segment-anything's own.

Tolerance: both run float32; the fused path sums in another order (projections folded, shared
keys), which moves logits by ~1e-4 on logits of magnitude ~10 (measured max 4e-4). Masks are logits > 0,
so at most a handful of boundary pixels whose logit is within that of 0 may differ.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch
from conftest import load_demo

from uosam_core.engine import Decoded, Prompts
from uosam_core.models import DecoderPath
from uosam_core.models.fast_decoder import NOT_DECODED

LOGIT_ATOL = 2e-3
SCORE_ATOL = 1e-4


@contextlib.contextmanager
def decoder_path(engine, path: DecoderPath):
    previous = engine.adapter.decoder_path
    engine.adapter.decoder_path = path
    try:
        yield
    finally:
        engine.adapter.decoder_path = previous


def both(engine, embedding, prompts: Prompts, multimask: bool) -> tuple[Decoded, Decoded]:
    with decoder_path(engine, DecoderPath.REFERENCE):
        reference = engine.decode(embedding, prompts, multimask=multimask)
    with decoder_path(engine, DecoderPath.FUSED):
        fused = engine.decode(embedding, prompts, multimask=multimask)
    return reference, fused


def assert_same_masks(reference: Decoded, fused: Decoded) -> None:
    assert fused.low_res_logits.shape == reference.low_res_logits.shape
    assert torch.allclose(fused.low_res_logits, reference.low_res_logits, atol=LOGIT_ATOL, rtol=0)
    assert torch.allclose(fused.scores, reference.scores, atol=SCORE_ATOL, rtol=0)
    a, b = reference.low_res_logits > 0, fused.low_res_logits > 0
    union = (a | b).sum(dim=(-1, -2)).clamp(min=1)
    assert ((a & b).sum(dim=(-1, -2)) / union).min() >= 0.999


def spread_points(image: np.ndarray, count: int) -> np.ndarray:
    height, width = image.shape[:2]
    rng = np.random.default_rng(7)
    return (rng.uniform(0.05, 0.95, (count, 2)) * [width, height]).astype(np.float32)


@pytest.fixture(scope="module")
def two_images(demo_stems):
    return [load_demo(stem)[0] for stem in demo_stems[:2]]


def test_the_mobilesam_engine_uses_the_fused_decoder(engine):
    assert engine.adapter.fused is not None
    assert engine.adapter.decoder_path is DecoderPath.FUSED


def test_point_prompts_give_the_reference_masks_and_scores(engine, two_images):
    image = two_images[0]
    embedding = engine.encode(image)
    points = spread_points(image, 4)
    prompts = Prompts(points[:, None, :], np.ones((4, 1), np.int64))
    assert_same_masks(*both(engine, embedding, prompts, multimask=True))


def test_points_box_and_mask_input_give_the_reference_masks(engine, two_images):
    """LRO's two steps: positive + negative point and a box, then the same with step 1's logits."""
    image = two_images[0]
    embedding = engine.encode(image)
    points = spread_points(image, 6).reshape(3, 2, 2)
    labels = np.tile(np.array([[1, 0]], np.int64), (3, 1))
    corners = np.sort(spread_points(image, 6).reshape(3, 2, 2), axis=1).reshape(3, 4) + [0, 0, 8, 8]
    step1 = Prompts(points, labels, corners.astype(np.float32))
    reference, fused = both(engine, embedding, step1, multimask=True)
    assert_same_masks(reference, fused)
    best = reference.scores.argmax(dim=1)
    mask_inputs = reference.low_res_logits[torch.arange(3), best][:, None]
    step2 = Prompts(points, labels, corners.astype(np.float32), mask_inputs)
    assert_same_masks(*both(engine, embedding, step2, multimask=False))


def test_a_new_image_is_not_decoded_against_the_previous_images_keys(engine, two_images):
    """The fused path keeps one image's shared keys; switching images must recompute them."""
    first, second = (engine.encode(image) for image in two_images)
    prompts = Prompts(spread_points(two_images[1], 3)[:, None, :], np.ones((3, 1), np.int64))
    with decoder_path(engine, DecoderPath.FUSED):
        engine.decode(first, prompts)
        fused_second = engine.decode(second, prompts)
    with decoder_path(engine, DecoderPath.REFERENCE):
        reference_second = engine.decode(second, prompts)
    assert_same_masks(reference_second, fused_second)


def test_fused_decode_gives_the_same_bytes_again(engine, two_images):
    image = two_images[1]
    embedding = engine.encode(image)
    prompts = Prompts(spread_points(image, 3)[:, None, :], np.ones((3, 1), np.int64))
    with decoder_path(engine, DecoderPath.FUSED):
        once = engine.decode(embedding, prompts)
        again = engine.decode(embedding, prompts)
    assert torch.equal(once.low_res_logits, again.low_res_logits)
    assert torch.equal(once.scores, again.scores)


def test_a_minimum_score_leaves_only_unread_masks_undecoded(engine, two_images):
    """GRO reads the logits of a prompt only when one of its masks scores above the IoU filter: the
    fused decoder skips the upscaling of the others (the costlier half of a decode), and the masks it
    does decode are those without the minimum (to float rounding: the token MLPs see a smaller batch)."""
    image = two_images[0]
    embedding = engine.encode(image)
    prompts = Prompts(spread_points(image, 12)[:, None, :], np.ones((12, 1), np.int64))
    with decoder_path(engine, DecoderPath.FUSED):
        full = engine.decode(embedding, prompts)
        threshold = float(full.scores.max(dim=1).values.median())  # about half of the prompts pass
        skipped = engine.decode(embedding, prompts, min_score=threshold)
    wanted = (full.scores > threshold).any(dim=1)
    assert 0 < int(wanted.sum()) < len(wanted)
    assert torch.equal(skipped.scores, full.scores)
    assert_same_masks(Decoded(full.low_res_logits[wanted], full.scores[wanted]),
                      Decoded(skipped.low_res_logits[wanted], skipped.scores[wanted]))
    assert (skipped.low_res_logits[~wanted] == NOT_DECODED).all() and NOT_DECODED < -1  # empty, not stable
    with decoder_path(engine, DecoderPath.REFERENCE):  # the reference path decodes everything: same read masks
        reference = engine.decode(embedding, prompts, min_score=threshold)
    assert_same_masks(Decoded(reference.low_res_logits[wanted], reference.scores[wanted]),
                      Decoded(skipped.low_res_logits[wanted], skipped.scores[wanted]))

"""Voting that cannot erase a coherent region (issue 9), on constructed label maps and masks."""

import numpy as np
import pytest

from uosam_core.changes import ChangeSource, risk, summarize
from uosam_core.masks import MaskStack
from uosam_core.voting import vote


def _scene() -> tuple[np.ndarray, np.ndarray]:
    """A 60x60 map: road (1) everywhere, a sidewalk (2) block wholly inside one SAM mask, and a
    blurry strip of building (3) reaching 3 px into that mask from a building outside it."""
    labels = np.ones((60, 60), np.int32)
    labels[10:25, 10:30] = 2  # 300 px sidewalk, wholly inside the mask
    labels[:, 47:] = 3  # building: columns 47..59; the mask reaches to column 49
    mask = np.zeros((60, 60), bool)
    mask[5:55, 5:50] = True
    return labels, mask


def test_a_whole_region_inside_a_mask_keeps_its_class_and_an_edge_fringe_is_repainted():
    labels, mask = _scene()
    plain = vote(labels, mask[None], ignore_ids=(255,))
    assert (plain.labels[10:25, 10:30] == 1).all(), "without the rule the majority erases the sidewalk"
    kept = vote(labels, mask[None], ignore_ids=(255,), keep_whole_share=0.7, keep_min_area=100)
    assert (kept.labels[10:25, 10:30] == 2).all(), "the sidewalk lies wholly inside the mask: kept"
    assert (kept.labels[5:55, 47:50] == 1).all(), "the building's fringe inside the mask is repainted"
    assert (kept.labels[:, 50:] == 3).all()
    small = vote(labels, mask[None], ignore_ids=(255,), keep_whole_share=0.7, keep_min_area=301)
    assert (small.labels[10:25, 10:30] == 1).all(), "a region under the minimum area is repainted"


def test_source_map_and_change_records_account_for_every_changed_pixel():
    labels, mask = _scene()
    source = np.full(labels.shape, -1, np.int32)
    votes = vote(labels, MaskStack.from_dense(mask[None]), ignore_ids=(255,), source=source)
    assert (source[mask] == 0).all() and (source[~mask] == -1).all()
    lro_source = np.full(labels.shape, -1, np.int32)
    lro_source[0:2, 0:3] = 0  # an object that painted 6 px of road as class 4
    final = votes.labels.copy()
    final[0:2, 0:3] = 4
    records = summarize(labels, final, lro_source, source, np.array([0.8], np.float32), votes.shares)
    by_kind = {(r.source, r.from_class, r.to_class): r for r in records}
    assert by_kind[(ChangeSource.GRO, 2, 1)].pixels == 300
    assert by_kind[(ChangeSource.GRO, 2, 1)].box == (10, 10, 25, 30)
    assert by_kind[(ChangeSource.GRO, 3, 1)].pixels == 50 * 3
    assert by_kind[(ChangeSource.LRO, 1, 4)].pixels == 6 and by_kind[(ChangeSource.LRO, 1, 4)].evidence == 0.8
    assert [r.pixels for r in records] == sorted((r.pixels for r in records), reverse=True)
    share = float(votes.shares[0])
    expected = (450 * (1 - share) + 6 * 0.2) / labels.size
    assert abs(risk(records, labels.size) - expected) < 1e-6
    assert summarize(labels, labels, lro_source, source, np.zeros(1), votes.shares) == []


def test_the_coherence_rule_is_a_refine_option_that_can_be_switched_off():
    from uosam_core.options import build_options

    option = next(o for o in build_options() if o.key == "gro.keep_whole_share")
    assert option.flag == "--keep-whole-share"
    assert option.parse("off") is None and option.parse("") is None and option.parse("0.6") == 0.6
    with pytest.raises(ValueError, match="must be >= 0.0 and <= 1.0"):
        option.parse("1.5")


def test_change_records_keep_large_ids_and_fill_changes_and_group_like_the_tuple_order():
    """Records are grouped on one packed key per pixel: 16-bit (PASS) ids and the fill (no source) survive."""
    baseline = np.full((20, 30), 65_000, np.int32)
    baseline[:, 15:] = 7
    labels = baseline.copy()
    labels[0:4, 0:5] = 3  # filled: no object or mask painted it
    labels[10:12, 20:30] = 65_535  # painted by object 2
    lro_source = np.full(labels.shape, -1, np.int32)
    lro_source[10:12, 20:30] = 2
    records = summarize(baseline, labels, lro_source, None, np.array([0.1, 0.2, 0.9], np.float32), None)
    assert [(r.source, r.index, r.from_class, r.to_class, r.pixels, r.box) for r in records] == [
        (ChangeSource.LRO, 2, 7, 65_535, 20, (10, 20, 12, 30)),
        (ChangeSource.FILL, -1, 65_000, 3, 20, (0, 0, 4, 5))]
    assert records[0].evidence == 0.9 and records[1].evidence == 0.0


def test_a_small_object_on_strong_image_edges_is_kept_though_its_lcm_looks_like_the_winner():
    """CAUSE's ball in a person's SAM mask: the LCM (16-px grid) cannot tell the ball from the person, its
    outline is an exceptionally strong image edge (docs/decisions/0021)."""
    from uosam_core.lcm import GridMap
    from uosam_core.precision import EdgeMap

    labels, mask = _scene()
    flat_lcm = {1: GridMap(np.full((4, 4), 0.5, np.float32), 16, (64, 64), (60, 60))}  # sidewalk = road
    texture = np.random.default_rng(0).normal(0, 10, (60, 60, 3))  # a textured scene: edges are relative to it
    image = np.clip(120 + texture, 0, 255).astype(np.uint8)
    image[10:25, 10:30] = np.clip((250, 250, 40) + texture[10:25, 10:30], 0, 255)  # drawn with a strong outline
    options = {"ignore_ids": (255,), "keep_whole_share": 0.7, "keep_min_area": 100, "keep_feature_margin": 0.05,
               "class_maps": flat_lcm}
    looks_alike = vote(labels, mask[None], **options)
    assert (looks_alike.labels[10:25, 10:30] == 1).all(), "the LCM test alone repaints it"
    outlined = vote(labels, mask[None], **options, keep_edge_strength=6.0, edge_map=EdgeMap.of(image))
    assert (outlined.labels[10:25, 10:30] == 2).all(), "its outline is a strong image edge: kept"
    faint = image.copy()
    faint[10:25, 10:30] = np.clip(126 + texture[10:25, 10:30], 0, 255)
    weak = vote(labels, mask[None], **options, keep_edge_strength=6.0, edge_map=EdgeMap.of(faint))
    assert (weak.labels[10:25, 10:30] == 1).all(), "a faint outline is no evidence"

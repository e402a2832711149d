"""The verdict's reason (uosam_core.verdicts) on real LRO objects of the demo (real MobileSAM)."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from conftest import load_demo

from uosam_core.config import LroConfig
from uosam_core.lro import run_lro, verdict
from uosam_core.verdicts import VerdictCode, explain

NUMBER = r"(\d+\.\d+)"


@pytest.fixture(scope="module")
def demo_objects(engine):
    """The LRO objects of the first demo image (the one with auto-rejected objects), default thresholds."""
    image, baseline, _ = load_demo("coco_00")
    return run_lro(engine, engine.encode(image), baseline, LroConfig(), ignore_ids=(255,), background_ids=())


def test_every_real_object_gets_the_reason_its_verdict_was_made_for(demo_objects):
    config = LroConfig()
    codes = set()
    for obj in demo_objects:
        judged = explain(obj, config)
        codes.add(judged.code)
        assert judged.uses_refined == obj.uses_refined == obj.accepted
        iou_ok = obj.iou_with_baseline >= config.iou_threshold
        contrast_ok = obj.lcm_contrast >= config.min_lcm_contrast
        if obj.accepted:
            assert judged.code == VerdictCode.ACCEPTED
            assert judged.text == (f"accepted: IoU {obj.iou_with_baseline:.2f} >= {config.iou_threshold:.2f}, "
                                   f"LCM contrast {obj.lcm_contrast:.2f} >= 0.15")
            continue
        assert judged.text.startswith("kept baseline: ")
        named = {name for name, _, _ in re.findall(rf"(IoU|LCM contrast) {NUMBER} < {NUMBER}", judged.text)}
        assert ("IoU" in named) == (not iou_ok) and ("LCM contrast" in named) == (not contrast_ok)
        assert judged.code == {(False, True): VerdictCode.LOW_IOU, (True, False): VerdictCode.LOW_CONTRAST,
                               (False, False): VerdictCode.LOW_IOU_AND_CONTRAST}[(iou_ok, contrast_ok)]
    # the demo shows both sides: a refined object used and one whose baseline was kept
    assert VerdictCode.ACCEPTED in codes and codes - {VerdictCode.ACCEPTED}


def test_thresholds_decide_as_the_lro_does_and_the_numbers_never_read_equal_when_one_fails(demo_objects):
    config = LroConfig(iou_threshold=0.4)
    obj = demo_objects[0]
    for iou in (0.0, 0.21, 0.3996, 0.4, 0.77, 1.0):
        for contrast in (-0.2, 0.10, 0.1499, 0.15, 0.31):
            judged_object = replace(obj, iou_with_baseline=iou, lcm_contrast=contrast,
                                    accepted=verdict(iou, contrast, config))
            judged = explain(judged_object, config)
            assert judged.uses_refined == judged_object.uses_refined
            for value, threshold in re.findall(rf"{NUMBER} < {NUMBER}", judged.text):
                assert value != threshold  # "IoU 0.3996 < 0.4000", never "IoU 0.40 < 0.40"
    edge = replace(obj, iou_with_baseline=0.3996, lcm_contrast=0.31, accepted=False)
    assert explain(edge, config).text == "kept baseline: IoU 0.3996 < 0.4000"
    exact = replace(obj, iou_with_baseline=0.4, lcm_contrast=0.15, accepted=True)
    assert explain(exact, config).text == "accepted: IoU 0.40 >= 0.40, LCM contrast 0.15 >= 0.15"
    airplane = replace(obj, iou_with_baseline=0.77, lcm_contrast=0.10, accepted=False)  # the VOC case
    assert explain(airplane, config).text == "kept baseline: LCM contrast 0.10 < 0.15"


def test_a_users_override_is_named_with_the_automatic_reason(demo_objects):
    config = LroConfig(iou_threshold=0.4)
    rejected = replace(demo_objects[0], iou_with_baseline=0.21, lcm_contrast=0.31, accepted=False)
    overridden = replace(rejected, decision="accept")
    judged = explain(overridden, config)
    assert judged.code == VerdictCode.USER_ACCEPTED and judged.automatic == VerdictCode.LOW_IOU
    assert judged.text == "accepted by you (automatic: kept baseline: IoU 0.21 < 0.40)"
    assert judged.uses_refined and overridden.uses_refined
    accepted = replace(demo_objects[0], iou_with_baseline=0.82, lcm_contrast=0.31, accepted=True, decision="reject")
    judged = explain(accepted, config)
    assert judged.code == VerdictCode.USER_REJECTED and not judged.uses_refined and not accepted.uses_refined
    assert judged.text.startswith("rejected by you") and "IoU 0.82 >= 0.40" in judged.text


def test_a_verdict_made_under_other_thresholds_says_so(demo_objects):
    accepted = replace(demo_objects[0], iou_with_baseline=0.6, lcm_contrast=0.3, accepted=True)
    judged = explain(accepted, LroConfig(iou_threshold=0.9))
    assert judged.code == VerdictCode.ACCEPTED and judged.uses_refined
    assert "IoU 0.60 < 0.90" in judged.text and "refine again" in judged.text
    # kept baseline although both checks pass: another LRO rule decided (named as such, not as a pass)
    kept = replace(demo_objects[0], iou_with_baseline=0.6, lcm_contrast=0.3, accepted=False)
    judged = explain(kept, LroConfig())
    assert judged.code == VerdictCode.REJECTED_OTHER and not judged.uses_refined
    assert judged.text.startswith("kept baseline")

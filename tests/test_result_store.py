"""Stored refinement results: a real MobileSAM refinement of a demo image written and read back."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest
from conftest import DEMO

from uosam_core.config import GroConfig, LroConfig, RefineConfig
from uosam_core.image_io import read_image, read_labels
from uosam_core.pipeline import Refiner
from uosam_core.records import Status
from uosam_core.result import ObjectPrompts, RefineResult
from uosam_core.result_store import (
    ResultStore,
    StoreError,
    _Reader,
    _Writer,
    key_for_files,
    load_or_refine,
)

KEY = "coco_07"  # the one tests/test_gui_store.py refines first: its embedding is cached then


class CountingRefiner(Refiner):
    """The real refiner, counting its refinements."""

    calls = 0

    def refine(self, *args, **kwargs) -> RefineResult:
        CountingRefiner.calls += 1
        return super().refine(*args, **kwargs)


@pytest.fixture(scope="module")
def stored(engine, tmp_path_factory):
    """A demo pair copied to a scratch folder, refined once through ``load_or_refine`` (stored)."""
    root = tmp_path_factory.mktemp("store")
    for folder in ("images", "labels"):
        (root / folder).mkdir()
        shutil.copy(DEMO / folder / f"{KEY}.png", root / folder / f"{KEY}.png")
    image, label = root / "images" / f"{KEY}.png", root / "labels" / f"{KEY}.png"
    refiner = CountingRefiner(engine)
    store = ResultStore(root / "out")
    pixels, (baseline, _) = read_image(image), read_labels(label)
    CountingRefiner.calls = 0
    first = load_or_refine(store, KEY, image, label, pixels, baseline, refiner)
    assert not first.from_store and CountingRefiner.calls == 1 and not first.notices
    return root, store, refiner, first.result


def assert_same_result(got: RefineResult, want: RefineResult) -> None:
    for name in ("baseline", "lro_labels", "labels"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name))
        assert getattr(got, name).dtype == getattr(want, name).dtype
    assert len(got.objects) == len(want.objects) >= 3
    for spec in dataclasses.fields(RefineResult):  # every other field (e.g. the change records) compares equal
        if spec.name not in ("baseline", "lro_labels", "labels", "objects", "gro", "timings"):
            assert getattr(got, spec.name) == getattr(want, spec.name), spec.name
    for a, b in zip(got.objects, want.objects):
        for name in ("baseline", "step1", "step2"):
            np.testing.assert_array_equal(getattr(a, name).dense(), getattr(b, name).dense())
            assert getattr(a, name).box == getattr(b, name).box
        np.testing.assert_array_equal(a.lcm_grid.values, b.lcm_grid.values)
        assert (a.lcm_grid.stride, a.lcm_grid.input_size, a.lcm_grid.original_size) == \
               (b.lcm_grid.stride, b.lcm_grid.input_size, b.lcm_grid.original_size)
        assert a.prompts == b.prompts and isinstance(a.prompts.positive[0], tuple)
        assert (a.index, a.class_id, a.step2_box, a.step2_score, a.iou_with_baseline, a.lcm_contrast, a.accepted,
                a.decision, a.edited) == (b.index, b.class_id, b.step2_box, b.step2_score, b.iou_with_baseline,
                                          b.lcm_contrast, b.accepted, b.decision, b.edited)
        np.testing.assert_array_equal(a.step1_scores, b.step1_scores)
        assert a.step1_logits is None and b.step1_logits.shape == (1, 256, 256)  # not stored: 7/8 of a file
    assert len(got.gro.masks) == len(want.gro.masks) > 0
    np.testing.assert_array_equal(np.asarray(got.gro.masks), np.asarray(want.gro.masks))
    for name in ("mask_scores", "mask_classes", "mask_shares", "mask_painted"):
        np.testing.assert_array_equal(getattr(got.gro, name), getattr(want.gro, name))
    np.testing.assert_array_equal(got.gro.vote_class, want.gro.vote_class)  # painted again from the masks
    np.testing.assert_array_equal(got.gro.vote_share, want.gro.vote_share)


def test_a_stored_result_reads_back_equal_and_is_used_instead_of_refining(stored):
    root, store, refiner, result = stored
    image, label = root / "images" / f"{KEY}.png", root / "labels" / f"{KEY}.png"
    pixels, (baseline, _) = read_image(image), read_labels(label)
    CountingRefiner.calls = 0
    again = load_or_refine(store, KEY, image, label, pixels, baseline, refiner)
    assert again.from_store and CountingRefiner.calls == 0 and not again.notices
    assert_same_result(again.result, result)
    recomposed = refiner.recompose(dataclasses.replace(again.result, objects=list(again.result.objects)))
    np.testing.assert_array_equal(recomposed.labels, result.labels)  # the app recomposes what it reads
    dense_bytes = sum(3 * obj.baseline.shape[0] * obj.baseline.shape[1] for obj in result.objects) + \
        np.asarray(result.gro.masks).nbytes
    size = store.path(KEY).stat().st_size
    print(f"stored result: {size / 1024:.0f} KiB ({len(result.objects)} objects, {len(result.gro.masks)} GRO masks;"
          f" dense bool masks alone {dense_bytes / 1024:.0f} KiB)")
    assert size < 40 * 1024 * len(result.objects)  # 144 KiB for 8 objects; with step-1 logits it was ~800
    assert store.summary(KEY)["changed_fraction"] == pytest.approx(result.changed_fraction, abs=1e-5)


def test_other_settings_model_or_labels_make_a_stored_result_stale(stored):
    root, store, refiner, _ = stored
    image, label = root / "images" / f"{KEY}.png", root / "labels" / f"{KEY}.png"
    current = key_for_files(image, label, refiner, "ids")
    assert store.load(KEY, current).result is not None
    other_settings = Refiner(refiner.engine, RefineConfig(lro=LroConfig(iou_threshold=0.5)))
    assert key_for_files(image, label, other_settings, "ids") != current
    assert key_for_files(image, label, refiner, "pass") != current
    engine_id = refiner.engine.model_id
    try:
        refiner.engine.model_id = "vit_t-another"
        assert key_for_files(image, label, refiner, "ids") != current
    finally:
        refiner.engine.model_id = engine_id
    edited = root / "edited-label.png"
    labels, label_format = read_labels(label)
    labels[:4, :4] = 0
    from uosam_core.image_io import write_labels

    write_labels(edited, labels, label_format)
    assert key_for_files(image, edited, refiner, "ids") != current
    stale = store.load(KEY, key_for_files(image, edited, refiner, "ids"))
    assert stale.result is None and str(store.path(KEY)) in stale.notice and "other inputs" in stale.notice
    assert store.load("not-there", current) == type(stale)(None, None)


def test_a_damaged_or_foreign_file_is_one_notice_never_an_import(stored, tmp_path):
    root, store, _, _ = stored
    copy = ResultStore(tmp_path)
    copy.folder.mkdir(parents=True)
    data = store.path(KEY).read_bytes()
    copy.path("cut").write_bytes(data[: len(data) // 2])
    cut = copy.load("cut", "any")
    assert cut.result is None and cut.notice.startswith(str(copy.path("cut"))) and "unreadable" in cut.notice
    with np.load(store.path(KEY)) as arrays:
        meta = json.loads(arrays["meta"].tobytes())
        entries = {name: arrays[name] for name in arrays.files}
    meta["tree"]["$dc"] = "os:system"  # a crafted file must not make the loader import anything else
    entries["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    np.savez(copy.path("foreign"), **entries)
    foreign = copy.load("foreign", meta["store_key"])
    assert foreign.result is None and "not one of uosam's" in foreign.notice


def test_fields_are_stored_generically_new_ones_default_and_unknown_ones_drop(stored):
    _, store, _, result = stored
    writer = _Writer()
    values = {"prompts": [ObjectPrompts([(1.5, 2.0)], [], None), ObjectPrompts([], [(3.0, 4.0)], (0, 0, 5, 5))],
              "status": Status.WRITTEN, "risk": 0.25, "none": None, "ids": (1, 2), "big": np.arange(70000)}
    tree = writer.encode(values)
    arrays = writer.arrays | writer.mask_pool()
    assert arrays["a0"].dtype == np.uint32  # integer arrays in their smallest dtype ...
    back = _Reader(arrays).decode(tree)
    assert back["big"].dtype == values["big"].dtype  # ... and back in their own
    np.testing.assert_array_equal(back.pop("big"), values.pop("big"))
    assert back == values and isinstance(back["status"], Status)
    with pytest.raises(StoreError):
        _Writer().encode({"object": object()})
    # a file written before a field existed (timings dropped) and one with a field this version lacks
    tree = _Writer().encode(result)
    del tree["f"]["timings"]
    tree["f"]["from_the_future"] = [1, 2]
    writer = _Writer()
    writer.encode(result)
    rebuilt = _Reader(writer.arrays | writer.mask_pool()).decode(tree)
    assert isinstance(rebuilt, RefineResult) and rebuilt.timings == {}
    tree["f"].pop("labels")
    with pytest.raises(StoreError, match="RefineResult.labels is missing"):
        _Reader(writer.arrays | writer.mask_pool()).decode(tree)


def test_an_unwritable_store_is_one_notice_and_the_result_still_comes(stored, tmp_path):
    root, _, refiner, result = stored
    blocked = tmp_path / "out"
    blocked.mkdir()
    (blocked / ".uosam").write_text("a file where the store's folder should be")
    image, label = root / "images" / f"{KEY}.png", root / "labels" / f"{KEY}.png"
    pixels, (baseline, _) = read_image(image), read_labels(label)
    encode_only = Refiner(refiner.engine, RefineConfig(lro=LroConfig(enabled=False), gro=GroConfig(profile="off")))
    obtained = load_or_refine(ResultStore(blocked), KEY, image, label, pixels, baseline, encode_only)
    assert not obtained.from_store and len(obtained.notices) == 1 and "not stored" in obtained.notices[0]
    assert obtained.result.gro is None and obtained.result.objects == []
    np.testing.assert_array_equal(obtained.result.labels, result.baseline)



def test_a_result_made_with_other_settings_is_one_notice_then_refined_and_replaced(stored, tmp_path):
    root, store, refiner, _ = stored
    image, label = root / "images" / f"{KEY}.png", root / "labels" / f"{KEY}.png"
    pixels, (baseline, _) = read_image(image), read_labels(label)
    here = ResultStore(tmp_path)
    here.folder.mkdir(parents=True)
    shutil.copy(store.path(KEY), here.path(KEY))  # made with the default settings
    lro_only = Refiner(refiner.engine, RefineConfig(gro=GroConfig(profile="off")))  # cheap: the embedding is cached
    changed = load_or_refine(here, KEY, image, label, pixels, baseline, lro_only)
    assert not changed.from_store and changed.result.gro is None and len(changed.notices) == 1
    assert changed.notices[0].startswith(str(here.path(KEY))) and "refining again" in changed.notices[0]
    again = load_or_refine(here, KEY, image, label, pixels, baseline, lro_only)  # the file was replaced
    assert again.from_store and not again.notices and again.result.gro is None

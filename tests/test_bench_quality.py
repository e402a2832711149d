"""bench/quality.py's report parts on real shared-data images: the per-class table, the worst-image PNGs,
the dense CRF row, the fixed/broken colours, and a re-run from saved labels (no refinement needed)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

from crf_dense import CrfSettings, dense_crf, unary_from_hard_labels, unavailable_reason  # noqa: E402
from datasets import eval_sets, load_triplet  # noqa: E402
from quality_report_images import (  # noqa: E402
    BOTH_RIGHT,
    BOTH_WRONG,
    BROKEN,
    FIXED,
    GAP,
    TITLE_HEIGHT,
    VOID,
    VOID_LABEL,
    WorstImages,
    change_map,
    class_palette,
    image_score,
    side_by_side,
    write_png,
)
from quality_report_tables import LOSS_FLAG, per_class_table, worst_class_losses  # noqa: E402

from uosam_core.image_io import LabelFormat, read_image, read_labels, write_labels  # noqa: E402
from uosam_core.metrics import Evaluator  # noqa: E402

STEMS = ("00", "01")


def coco(model: str):
    return next(s for s in eval_sets() if s.name == f"cocostuff27/{model}")


def other_model_labels(stem: str, shape: tuple[int, int], model: str = "cause") -> np.ndarray:
    """Another USS model's real prediction of ``stem``, cropped to ``shape``: a real 'refined' map."""
    labels, _ = read_labels(coco(model).baseline / f"{stem}.png")
    return np.ascontiguousarray(labels[: shape[0], : shape[1]])


def test_per_class_table_matches_direct_iou_and_flags_losses():
    cause = coco("cause")  # CAUSE as the baseline, STEGO's real labels as the "refined" ones: classes lose
    base_eval, other_eval = Evaluator(27, 255), Evaluator(27, 255)
    pairs = []
    for stem in STEMS:
        _, gt, baseline = load_triplet(cause, stem)
        other = other_model_labels(stem, gt.shape, "stego")
        base_eval.add(baseline, gt)
        other_eval.add(other, gt)
        pairs.append((gt, baseline, other))
    base_iou, other_iou = base_eval.scores().per_class_iou, other_eval.scores().per_class_iou
    names = list(cause.class_names)
    lines, changes = per_class_table(cause.name, names, base_iou, {"stego-as-refined": other_iou})

    def direct_iou(class_id: int, which: int) -> float:
        inter = sum(((p[which] == class_id) & (p[0] == class_id) & (p[0] != 255)).sum() for p in pairs)
        union = sum((((p[which] == class_id) | (p[0] == class_id)) & (p[0] != 255)).sum() for p in pairs)
        return 100.0 * inter / union

    rows = {line.split(" | ")[0].lstrip("| "): line for line in lines[3:]}
    wall = names.index("wall")
    assert f"| wall | {direct_iou(wall, 1):.2f} | {direct_iou(wall, 2):.2f} | " in rows["wall"]
    lost = [c for c in changes if c.delta < -LOSS_FLAG]
    kept = [c for c in changes if c.delta >= -LOSS_FLAG]
    assert lost and kept  # this real pair has both kinds
    for change in lost:
        assert rows[change.class_name].endswith("| ! stego-as-refined |")
    for change in kept:
        assert rows[change.class_name].endswith("|  |")
    worst = worst_class_losses(changes)
    assert len(worst) == 1 and worst[0].delta == min(c.delta for c in changes)
    assert worst[0].line().startswith(f"stego-as-refined: worst class loss: {worst[0].delta:+.2f} (cocostuff27/cause/")


def test_worst_images_ranked_and_written_as_side_by_side_png(tmp_path):
    stego = coco("stego")
    worst = WorstImages(count=1)
    kept = {}
    for stem in STEMS:
        _, gt, baseline = load_triplet(stego, stem)
        other = other_model_labels(stem, gt.shape)
        broken = np.where((baseline == gt) & (gt != 255), (gt + 1) % 27, baseline)  # every right pixel broken
        labels = other if stem == "00" else broken
        kept[stem] = labels
        worst.add(stem, image_score(baseline, gt, 27, 255), image_score(labels, gt, 27, 255), labels)
    (only,) = worst.ranked()  # count=1 keeps the larger loss: image 01 with every right pixel made wrong
    none = WorstImages(count=0)
    none.add("01", only.base, only.refined, only.labels)
    assert none.ranked() == []
    assert only.stem == "01" and only.loss > 0 and np.array_equal(only.labels, kept["01"])
    image, gt, baseline = load_triplet(stego, "01")
    strip = side_by_side(image, gt, baseline, only.labels, 27, 255, ["01", "truth", "baseline", "refined", "map"])
    path = tmp_path / "worst-01-01.png"
    write_png(path, strip)
    written = read_image(path)
    height, width = gt.shape
    assert written.shape == (height + TITLE_HEIGHT, 5 * width + 4 * GAP, 3)
    panels = [written[TITLE_HEIGHT:, i * (width + GAP):i * (width + GAP) + width] for i in range(5)]
    assert np.array_equal(panels[0], image)
    truth_colours = np.where((gt == 255)[..., None], VOID_LABEL, class_palette(27)[np.minimum(gt, 26)])
    assert np.array_equal(panels[1], truth_colours)
    assert len({tuple(c) for c in class_palette(27)}) == 27 and (class_palette(27) != 0).any(1).all()
    assert np.array_equal(panels[4], change_map(gt, baseline, only.labels, 255))
    assert not (panels[4] == FIXED).all(-1).any()  # nothing was fixed, every right baseline pixel broken
    assert (panels[4] == BROKEN).all(-1).sum() == ((baseline == gt) & (gt != 255)).sum()
    assert (panels[4] == BOTH_WRONG).all(-1).sum() == ((baseline != gt) & (gt != 255)).sum()


def test_change_map_colours_pixel_by_pixel():
    gt = np.array([[1, 1, 2, 255], [0, 3, 3, 3]])
    baseline = np.array([[1, 0, 2, 4], [0, 0, 1, 3]])
    refined = np.array([[1, 1, 0, 4], [0, 2, 1, 3]])
    colours = change_map(gt, baseline, refined, 255)
    expected = [[BOTH_RIGHT, FIXED, BROKEN, VOID], [BOTH_RIGHT, BOTH_WRONG, BOTH_WRONG, BOTH_RIGHT]]
    assert colours.dtype == np.uint8
    for row in range(2):
        for col in range(4):
            assert tuple(colours[row, col]) == expected[row][col], (row, col)


@pytest.mark.skipif(unavailable_reason() is not None, reason="pydensecrf2 not installed (pip install -e '.[bench]')")
def test_dense_crf_on_one_real_image_changes_few_pixels_along_edges():
    stego = coco("stego")
    image, gt, baseline = load_triplet(stego, "00")
    before = image.copy(), baseline.copy()
    crf = dense_crf(image, baseline, 27, CrfSettings(gt_prob=0.5))
    assert np.array_equal(image, before[0]) and np.array_equal(baseline, before[1])
    assert crf.shape == baseline.shape and crf.dtype == np.int32
    changed = crf != baseline
    assert 0 < changed.mean() < 0.05  # a smoothing of the hard labels, not a new segmentation
    assert set(np.unique(crf)) <= set(np.unique(baseline))  # no class appears from nowhere
    ys, xs = np.nonzero(changed)  # changes sit next to a baseline class edge
    padded = np.pad(baseline, 2, mode="edge")
    near_edge = [len(np.unique(padded[y:y + 5, x:x + 5])) > 1 for y, x in zip(ys, xs)]
    assert np.mean(near_edge) > 0.9


def test_unary_from_hard_labels_gives_void_a_uniform_row():
    unary = unary_from_hard_labels(np.array([[0, 2], [255, 1]]), 3, 0.7)
    assert unary.shape == (3, 4) and unary.dtype == np.float32
    np.testing.assert_allclose(np.exp(-unary[:, 0]), [0.7, 0.15, 0.15], rtol=1e-6)
    np.testing.assert_allclose(np.exp(-unary[:, 2]), [1 / 3] * 3, rtol=1e-6)
    with pytest.raises(ValueError, match="gt_prob"):
        unary_from_hard_labels(np.zeros((2, 2), int), 3, 1.0)


def test_report_rerun_from_saved_labels_needs_no_refinement(tmp_path, capsys):
    import quality

    saved = tmp_path / "saved" / "cocostuff27" / "stego" / "lro"
    saved.mkdir(parents=True)
    expected = Evaluator(27, 255)
    for stem in STEMS:
        _, gt, _ = load_triplet(coco("stego"), stem)
        labels = other_model_labels(stem, gt.shape)
        expected.add(labels, gt)
        write_labels(saved / f"{stem}.png", labels, LabelFormat("L"))
    inputs = {p.name: p.read_bytes() for p in saved.iterdir()}
    copy = tmp_path / "copy"
    quality.main(["--sets", "cocostuff27/stego", "--limit", "2", "--variants", "lro", "--no-crf",
                  "--labels-from", str(tmp_path / "saved"), "--save-labels", str(copy), "--report",
                  str(tmp_path / "report")])
    out = capsys.readouterr().out
    scores = expected.scores()
    row = f"| cocostuff27/stego | 2 | lro | {scores.miou:.2f} | {scores.pacc:.2f} | {scores.boundary_iou:.2f} | - |"
    assert row in out
    assert "lro: worst class loss:" in out
    pngs = sorted(p.name for p in (tmp_path / "report" / "cocostuff27" / "stego" / "lro").glob("*.png"))
    assert pngs in (["worst-01-00.png", "worst-02-01.png"], ["worst-01-01.png", "worst-02-00.png"])
    assert {p.name: p.read_bytes() for p in saved.iterdir()} == inputs  # inputs untouched
    for stem in STEMS:
        assert np.array_equal(read_labels(copy / "cocostuff27" / "stego" / "lro" / f"{stem}.png")[0],
                              read_labels(saved / f"{stem}.png")[0])

"""`uosam eval` against an independent definition of the scores, and its input handling."""

import json
import shutil
import tracemalloc

import numpy as np
import pytest
from conftest import SHARED
from PIL import Image
from test_image_io import png_bytes

from uosam_core.cli import EXIT_SKIPPED, main
from uosam_core.evaluate import evaluate_folders


def independent_scores(pairs, num_classes, ignore):
    """mIoU and pAcc from their definitions: over the pixels whose gt is not ``ignore``,
    IoU_c = |gt = c and pred = c| / |gt = c or pred = c| averaged over classes with a non-empty union;
    pAcc = share of those pixels where pred equals gt and gt is a class (0..N-1)."""
    inter, union = np.zeros(num_classes), np.zeros(num_classes)
    correct = total = 0
    for pred, gt in pairs:
        valid = gt != ignore
        for c in range(num_classes):
            inter[c] += np.sum((gt == c) & (pred == c) & valid)
            union[c] += np.sum(((gt == c) | (pred == c)) & valid)
        correct += np.sum((gt == pred) & valid & (gt < num_classes))
        total += valid.sum()
    present = union > 0
    return {"mIoU": float(np.mean(inter[present] / union[present]) * 100), "pAcc": correct / total * 100}


def _save(path, ids):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(ids, np.uint8), "L").save(path, format="PNG")


def _eval_json(capsys, *args):
    code = main(["eval", *map(str, args), "--json"])
    captured = capsys.readouterr()
    return code, json.loads(captured.out.strip().splitlines()[-1]), captured.err


def _damaged_pairs(seed=0):
    """Two (pred, gt) pairs with 5 classes: gt with ignore (255) and out-of-range (7) pixels; the
    prediction right except for pixels set to 255, pixels of another class and pixels of id 9."""
    rng = np.random.default_rng(seed)
    pairs = []
    for _ in range(2):
        gt = rng.integers(0, 5, (40, 50))
        gt[:4] = 255
        gt[4:7, :10] = 7
        pred = gt.copy()
        pred[rng.random(gt.shape) < 0.2] = 255
        pred[rng.random(gt.shape) < 0.05] = 2
        pred[rng.random(gt.shape) < 0.05] = 9
        pairs.append((pred, gt))
    return pairs


def test_out_of_range_ids_count_as_errors(tmp_path, capsys):
    pairs = _damaged_pairs()
    for index, (pred, gt) in enumerate(pairs):
        _save(tmp_path / "pred" / f"{index}.png", pred)
        _save(tmp_path / "gt" / f"{index}.png", gt)
    code, values, err = _eval_json(capsys, tmp_path / "pred", tmp_path / "gt", "--num-classes", 5)
    expected = independent_scores(pairs, 5, 255)
    assert code == 0
    assert values["mIoU"] == pytest.approx(expected["mIoU"]) and values["pAcc"] == pytest.approx(expected["pAcc"])
    assert values["mIoU"] < 80 and values["pAcc"] < 80
    assert ("warning: ground truth ids reach 7, beyond --num-classes 5 (ids 0..4): those pixels count as errors"
            in err.splitlines())
    assert "warning: prediction ids reach 9, beyond --num-classes 5" in err
    _, _, err = _eval_json(capsys, tmp_path / "pred", tmp_path / "gt", "--num-classes", 10)
    assert "warning" not in err  # every id is a class now; 255 is the ignore id


def test_wrong_pixels_set_to_255_do_not_score_100(tmp_path, capsys):
    gt = np.tile(np.repeat(np.arange(4), 10), (30, 1))
    pred = gt.copy()
    pred[:, ::3] = 255  # every third column predicted as "ignore"
    _save(tmp_path / "pred" / "a.png", pred)
    _save(tmp_path / "gt" / "a.png", gt)
    code, values, _ = _eval_json(capsys, tmp_path / "pred", tmp_path / "gt", "--num-classes", 4)
    expected = independent_scores([(pred, gt)], 4, 255)
    assert code == 0 and expected["pAcc"] < 70
    assert values["pAcc"] == pytest.approx(expected["pAcc"]) and values["mIoU"] == pytest.approx(expected["mIoU"])


def test_hungarian_counts_unmatched_clusters_as_errors(tmp_path, capsys):
    rng = np.random.default_rng(1)
    permutation = np.array([3, 0, 4, 1, 2])
    pairs = []
    for index in range(3):
        gt = rng.integers(0, 5, (30, 30))
        pred = permutation[gt]
        pred[rng.random(gt.shape) < 0.1] = 200  # a sixth cluster: no class left for it
        _save(tmp_path / "pred" / f"{index}.png", pred)
        _save(tmp_path / "gt" / f"{index}.png", gt)
        inverse = np.full(256, -1)
        inverse[permutation] = np.arange(5)
        pairs.append((inverse[pred], gt))
    code, values, _ = _eval_json(capsys, tmp_path / "pred", tmp_path / "gt", "--num-classes", 5, "--hungarian")
    expected = independent_scores(pairs, 5, 255)
    assert code == 0 and expected["mIoU"] < 95
    assert values["mIoU"] == pytest.approx(expected["mIoU"]) and values["pAcc"] == pytest.approx(expected["pAcc"])


@pytest.mark.parametrize("count", ["0", "-3"])
def test_num_classes_below_one_is_refused(tmp_path, capsys, count):
    _save(tmp_path / "a.png", np.zeros((4, 4)))
    assert main(["eval", str(tmp_path), str(tmp_path), "--num-classes", count]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip() == f"uosam eval: --num-classes must be at least 1 (got {count})"


def test_upper_case_png_names_are_found(tmp_path, capsys):
    gt = np.repeat(np.arange(3), 4)[None].repeat(6, 0)
    _save(tmp_path / "gt" / "sub" / "a.PNG", gt)
    _save(tmp_path / "pred" / "sub" / "a.png", gt)
    _save(tmp_path / "gt" / "b.png", gt)
    _save(tmp_path / "pred" / "b.Png", gt)
    assert main(["eval", str(tmp_path / "pred"), str(tmp_path / "gt"), "--num-classes", "3"]) == 0
    assert capsys.readouterr().out.strip().endswith("(2 images)")


def test_a_bomb_or_a_bad_file_is_one_line_naming_it(tmp_path, capsys):
    gt = np.zeros((6, 6))
    for key in ("good", "bomb_pred", "bomb_gt", "jpeg_gt"):
        _save(tmp_path / "gt" / f"{key}.png", gt)
        _save(tmp_path / "pred" / f"{key}.png", gt)
    (tmp_path / "pred" / "bomb_pred.png").write_bytes(png_bytes(100_000, 100_000))
    (tmp_path / "gt" / "bomb_gt.png").write_bytes(png_bytes(100_000, 100_000))
    Image.fromarray(np.zeros((6, 6), np.uint8)).save(tmp_path / "gt" / "jpeg_gt.png", format="JPEG")
    code = main(["eval", str(tmp_path / "pred"), str(tmp_path / "gt"), "--num-classes", "2"])
    captured = capsys.readouterr()
    assert code == EXIT_SKIPPED and captured.out.strip().endswith("(1 images)")
    lines = captured.err.strip().splitlines()
    assert "Traceback" not in captured.err and len(lines) == 3
    for bad, problem in (("pred/bomb_pred.png", "label is over the 80-megapixel limit"),
                         ("gt/bomb_gt.png", "label is over the 80-megapixel limit"),
                         ("gt/jpeg_gt.png", "label file holds JPEG data")):
        assert sum(line.startswith(f"skipped {tmp_path / bad}: {problem}") for line in lines) == 1, bad


def test_a_prediction_against_itself_scores_100(capsys):
    labels = SHARED / "cocostuff27-uss" / "label"
    code, values, _ = _eval_json(capsys, labels, labels, "--num-classes", 27)
    assert code == 0 and values == {"mIoU": 100.0, "pAcc": 100.0, "boundaryIoU": 100.0}


@pytest.mark.parametrize("hungarian", [False, True])
def test_memory_is_flat_in_the_number_of_images(tmp_path, hungarian):
    """Peak traced memory of a 12-image evaluation stays near that of a 3-image one (images are
    scored one at a time; before, every image was held until the end)."""
    rng = np.random.default_rng(2)
    for index in range(12):
        gt = rng.integers(0, 6, (256, 256))
        _save(tmp_path / "gt" / f"{index:02}.png", gt)
        _save(tmp_path / "pred" / f"{index:02}.png", np.where(rng.random(gt.shape) < 0.1, 5, gt))
    shutil.copytree(tmp_path / "gt", tmp_path / "gt3", ignore=lambda _, names: [n for n in names if n >= "03"])
    peaks = []
    for gt_dir in (tmp_path / "gt3", tmp_path / "gt"):
        tracemalloc.start()
        evaluate_folders(tmp_path / "pred", gt_dir, num_classes=6, hungarian=hungarian)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    assert peaks[1] < 1.3 * peaks[0], peaks


def test_a_size_mismatch_is_told_in_wxh_and_kept_when_nothing_could_be_scored(tmp_path, capsys):
    """CLI trial: eval wrote sizes as (H, W) unlike refine's WxH, and when the only prediction was bad it
    said just "no prediction could be paired", dropping the reason."""
    _save(tmp_path / "pred" / "a.png", np.zeros((100, 200)))
    _save(tmp_path / "gt" / "a.png", np.zeros((319, 320)))
    code = main(["eval", str(tmp_path / "pred"), str(tmp_path / "gt"), "--num-classes", "4"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1, lines
    assert "no prediction could be scored against" in lines[0]
    assert "sizes 200x100 and 320x319 (WxH) differ by more than 2 px" in lines[0]

import hashlib
import json
import shutil

import numpy as np
import pytest
from conftest import DEMO
from PIL import Image

from uosam_core.cli import EXIT_SKIPPED, main
from uosam_core.image_io import read_labels


def _digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def batch_run(tmp_path_factory):
    """A folder with the demo pairs in nested class folders plus bad files, refined once."""
    root = tmp_path_factory.mktemp("batch")
    images, labels, out = root / "images", root / "labels", root / "out"
    for stem_path in sorted((DEMO / "images").glob("*.png"))[:2]:
        (images / "cls_a").mkdir(parents=True, exist_ok=True)
        (labels / "cls_a").mkdir(parents=True, exist_ok=True)
        shutil.copy(stem_path, images / "cls_a" / stem_path.name)
        shutil.copy(DEMO / "labels" / stem_path.name, labels / "cls_a" / stem_path.name)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(images / "rgb_label.png")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(labels / "rgb_label.png")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(images / "wrong_size.png")
    Image.fromarray(np.zeros((9, 8), np.uint8)).save(labels / "wrong_size.png")
    (labels / "orphan_label.png").write_bytes((DEMO / "labels" / "coco_00.png").read_bytes())
    before = _digest(labels) | _digest(images)
    code = main(["refine", str(images), str(labels), str(out), "--quiet", "--num-classes", "27", "--no-gro"])
    return images, labels, out, code, before


def test_batch_writes_outputs_like_the_inputs_and_reports_bad_pairs(batch_run, capsys):
    images, labels, out, code, before = batch_run
    assert code == EXIT_SKIPPED
    for label_path in (labels / "cls_a").glob("*.png"):
        written = Image.open(out / "cls_a" / label_path.name)
        original = Image.open(label_path)
        assert written.size == original.size and written.mode == original.mode == "P"
        assert written.getpalette() == original.getpalette()
    summary = json.loads((out / "uosam-summary.json").read_text())
    assert summary["counts"] == {"written": 2, "resumed": 0, "skipped": 3}
    problems = " | ".join(item["problem"] for item in summary["skipped"])
    assert "RGB label file" in problems and "differs from its image" in problems and "no image" in problems
    assert _digest(labels) | _digest(images) == before, "inputs are never written"


def test_rerun_resumes_without_redoing_work(batch_run, capsys):
    images, labels, out, _, _ = batch_run
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*.png")}
    (out / "cls_a" / ".coco_00.png.part").write_bytes(b"the user's own file")
    (out / "cls_a" / ".coco_00.png.k2j4h1.uosam-tmp").write_bytes(b"half a file from a killed run")
    code = main(["refine", str(images), str(labels), str(out), "--quiet", "--num-classes", "27", "--no-gro"])
    assert code == EXIT_SKIPPED
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.png")} == stamps
    assert (out / "cls_a" / ".coco_00.png.part").read_bytes() == b"the user's own file", "never a user's file"
    assert not list(out.rglob("*.uosam-tmp"))
    summary = json.loads((out / "uosam-summary.json").read_text())
    assert summary["counts"]["resumed"] == 2 and summary["counts"]["written"] == 0


def test_eval_prints_one_line_and_hungarian_undoes_a_permutation(tmp_path, capsys):
    gt_dir, pred_dir, shuffled_dir = tmp_path / "gt", tmp_path / "pred", tmp_path / "shuffled"
    permutation = np.random.default_rng(0).permutation(27)
    for folder in (gt_dir, pred_dir, shuffled_dir):
        folder.mkdir()
    for path in (DEMO / "ground_truth").glob("*.png"):
        shutil.copy(path, gt_dir / path.name)
        labels, _ = read_labels(DEMO / "labels" / path.name)
        Image.fromarray(labels.astype(np.uint8)).save(pred_dir / path.name)
        Image.fromarray(permutation[labels].astype(np.uint8)).save(shuffled_dir / path.name)
    assert main(["eval", str(pred_dir), str(gt_dir), "--num-classes", "27"]) == 0
    plain = capsys.readouterr().out.strip()
    assert plain.startswith("mIoU ") and "pAcc" in plain and "boundary IoU" in plain and len(plain.splitlines()) == 1
    main(["eval", str(shuffled_dir), str(gt_dir), "--num-classes", "27"])
    assert capsys.readouterr().out.strip() != plain
    main(["eval", str(shuffled_dir), str(gt_dir), "--num-classes", "27", "--hungarian", "--json"])
    matched = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    main(["eval", str(pred_dir), str(gt_dir), "--num-classes", "27", "--json"])
    direct = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert matched["mIoU"] >= direct["mIoU"] - 1e-6


def test_eval_pass_protocol_scores_a_perfect_prediction(tmp_path, capsys):
    from uosam_core.image_io import LabelFormat, write_labels

    gt = np.zeros((20, 20), np.int64)
    gt[5:15, 5:15] = 37
    gt[0, :] = 1000
    pred = np.where(gt == 37, 3, 0)  # raw cluster ids: matched per image
    write_labels(tmp_path / "gt" / "n01" / "a.png", gt, LabelFormat("pass-rgb"))
    write_labels(tmp_path / "pred" / "n01" / "a.png", pred, LabelFormat("pass-rgb"))
    assert main(["eval", str(tmp_path / "pred"), str(tmp_path / "gt"), "--protocol", "pass", "--json"]) == 0
    values = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert values["mIoU"] == pytest.approx(100.0) and values["ImgAcc"] == 100.0
    assert values["Fbeta"] == pytest.approx(100.0)


def test_weights_commands(capsys):
    assert main(["weights", "list"]) == 0
    listing = capsys.readouterr().out
    assert "vit_t" in listing and "vit_h" in listing and "(default)" in listing
    assert main(["weights", "verify"]) == 0
    assert ": ok (vit_t" in capsys.readouterr().out


def test_missing_folder_is_one_clear_line(tmp_path, capsys):
    code = main(["refine", str(tmp_path / "nope"), str(tmp_path), str(tmp_path / "out"), "--quiet"])
    assert code == 2
    assert capsys.readouterr().err.strip() == f"uosam refine: {tmp_path / 'nope'}: images folder not found"


def test_embedding_cache_that_is_a_file_is_one_line_and_exit_2(tmp_path, capsys):
    images, labels, cache = tmp_path / "images", tmp_path / "labels", tmp_path / "cache.bin"
    for folder in (images, labels):
        folder.mkdir()
        shutil.copy(DEMO / folder.name / "coco_00.png", folder / "coco_00.png")
    cache.write_bytes(b"a file, not a folder")
    code = main(["refine", str(images), str(labels), str(tmp_path / "out"), "--quiet", "--embedding-cache", str(cache)])
    assert code == 2
    assert capsys.readouterr().err.splitlines() == [
        f"uosam refine: {cache}: embedding cache must be a folder, but it is a file"]
    assert cache.read_bytes() == b"a file, not a folder" and not (tmp_path / "out").exists()


@pytest.mark.parametrize("option, value, expected", [
    ("--num-classes", "0", "must be >= 1"),
    ("--min-vote-share", "5", "must be >= 0.0 and <= 1.0"),
    ("--iou-threshold", "-1", "must be >= 0.0 and <= 1.0"),
    ("--min-object-area", "-5", "must be >= 0"),
    ("--max-mask-fraction", "0", "must be > 0.0 and <= 1.0"),
    ("--threads", "0", "must be >= 1"),
    ("--workers", "0", "must be >= 1"),
    ("--embedding-cache-gb", "-1", "must be > 0.0"),
    ("--ignore-index", "abc", "expected comma-separated class ids"),
    ("--background", "-3", "must not be negative"),
    # second user trial: non-finite values, empty items, empty paths, unbounded margins
    ("--embedding-cache-gb", "inf", "must be a finite number"),
    ("--embedding-cache-gb", "nan", "must be a finite number"),
    ("--gpus-per-worker", "nan", "must be a finite number"),
    ("--min-lcm-contrast", "inf", "must be a finite number"),
    ("--keep-feature-margin", "5", "must be >= -1.0 and <= 1.0"),
    ("--keep-feature-margin", "nan", "must be a finite number"),
    ("--ignore-index", "1,,2", "expected comma-separated class ids"),
    ("--threads", "2.5", "expected an int"),
    ("--embedding-cache", "", "expected a folder, got an empty path"),
    ("--checkpoint", "", "expected a file, got an empty path"),  # it meant "the default model"
    ("--checkpoint", "  ", "expected a file, got an empty path"),
])
def test_nonsense_option_values_are_refused_before_any_work(tmp_path, capsys, option, value, expected):
    """A user trial ran each of these to completion without a word; each is now refused up front."""
    with pytest.raises(SystemExit) as stopped:
        main(["refine", str(DEMO / "images"), str(DEMO / "labels"), str(tmp_path / "out"), option, value])
    assert stopped.value.code == 2
    error = capsys.readouterr().err
    assert option in error and expected in error
    assert not (tmp_path / "out").exists()


def test_ids_above_255_for_8bit_labels_and_an_uncreatable_out_are_one_line(tmp_path, capsys):
    code = main(["refine", str(DEMO / "images"), str(DEMO / "labels"), str(tmp_path / "out"), "--ignore-index", "300"])
    assert code == 2 and "above 255" in capsys.readouterr().err
    target = "/proc/uosam-out-test"  # /proc refuses new folders even for root
    code = main(["refine", str(DEMO / "images"), str(DEMO / "labels"), target, "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "cannot create the output folder" in err and "Traceback" not in err


def test_an_out_that_cannot_be_written_in_and_empty_folders_are_one_line(tmp_path, capsys):
    """Second CLI trial: an existing OUT the tool cannot write in gave a traceback after the model load;
    empty folders said "refined 0" and exit 0."""
    out = tmp_path / "out"
    out.mkdir()
    (out / ".uosam").write_text("a file where the tool keeps its records")
    code = main(["refine", str(DEMO / "images"), str(DEMO / "labels"), str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "cannot write in the output folder" in err and err.count("\n") == 1
    images, labels = tmp_path / "empty_images", tmp_path / "empty_labels"
    images.mkdir(), labels.mkdir()
    code = main(["refine", str(images), str(labels), str(tmp_path / "out2"), "--quiet", "--no-gro", "--no-lro"])
    err = capsys.readouterr().err
    assert code == EXIT_SKIPPED and "no image/label pairs found" in err


def test_skip_lines_are_written_above_the_progress_bar(tmp_path, capsys):
    """CLI trial: a skip line was printed into the progress bar ("0/15 [00:00<?, ?img/s]skipped ...")."""
    images, labels = tmp_path / "images", tmp_path / "labels"
    images.mkdir()
    labels.mkdir()
    photo = Image.open(DEMO / "images" / f"{sorted(p.stem for p in (DEMO / 'images').glob('*.png'))[0]}.png")
    photo.save(images / "good.png")
    Image.fromarray(np.full((photo.height, photo.width), 3, np.uint8)).save(labels / "good.png")
    photo.save(images / "bad.png")
    (labels / "bad.png").write_bytes(b"not a png")
    code = main(["refine", str(images), str(labels), str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == EXIT_SKIPPED
    skipped = [line for line in err.replace("\r", "\n").splitlines() if "skipped" in line and "bad.png" in line]
    assert len(skipped) == 1 and skipped[0].startswith("skipped "), err

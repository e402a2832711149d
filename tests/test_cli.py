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


def test_an_embedding_cache_too_small_for_one_embedding_is_a_warning(tmp_path, capsys):
    """User trial: --embedding-cache-gb 0.004 (one MobileSAM embedding is ~4 MB) stored nothing, silently."""
    images, labels, cache = tmp_path / "images", tmp_path / "labels", tmp_path / "cache"
    for folder in (images, labels):
        folder.mkdir()
        shutil.copy(DEMO / folder.name / "coco_00.png", folder / "coco_00.png")
    code = main(["refine", str(images), str(labels), str(tmp_path / "out"), "--quiet", "--no-gro",
                 "--embedding-cache", str(cache), "--embedding-cache-gb", "0.001"])
    assert code == 0 and (tmp_path / "out" / "coco_00.png").is_file()
    warning = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning: ")]
    assert len(warning) == 1 and str(cache) in warning[0] and "nothing stays cached" in warning[0]
    assert not list(cache.glob("*.pt"))


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


def _two_pairs(tmp_path):
    """Two demo images and their labels in fresh folders."""
    images, labels = tmp_path / "images", tmp_path / "labels"
    images.mkdir()
    labels.mkdir()
    for stem in sorted(p.stem for p in (DEMO / "images").glob("*.png"))[:2]:
        shutil.copy(DEMO / "images" / f"{stem}.png", images)
        shutil.copy(DEMO / "labels" / f"{stem}.png", labels)
    return images, labels


def test_outputs_and_the_summary_that_cannot_be_written_are_one_line_each(tmp_path, capsys):
    """Third CLI trial: an OUT that refused writes after an earlier run blamed the input image for the
    output's failure, then crashed with a traceback writing the summary."""
    images, labels = _two_pairs(tmp_path)
    first, second = sorted(path.name for path in images.iterdir())
    out = tmp_path / "out"
    (out / first).mkdir(parents=True)  # the output's place is taken by a folder
    code = main(["refine", str(images), str(labels), str(out), "--quiet", "--no-gro"])
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == EXIT_SKIPPED and "Traceback" not in captured.err
    assert lines[-1].startswith(f"skipped {out / first}: cannot write the output"), lines  # after "redo ..."
    assert (out / second).is_file() and "refined 1" in captured.out  # the batch went on
    summary = json.loads((out / "uosam-summary.json").read_text())
    assert summary["skipped"][0]["file"] == str(out / first)

    out2 = tmp_path / "out2"
    (out2 / "uosam-summary.json").mkdir(parents=True)  # the summary cannot be written
    code = main(["refine", str(images), str(labels), str(out2), "--quiet", "--no-gro"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and err.count("\n") == 1
    assert "stopped" in err and "cannot write the summary" in err and str(out2) in err
    assert (out2 / first).is_file() and (out2 / second).is_file()  # the images were refined and kept


def test_an_existing_out_that_refuses_new_files_is_one_line_before_any_work(tmp_path, capsys):
    """Third CLI trial: an existing OUT made immutable after a run (chmod does not stop root) passed the
    start-up check and failed image by image."""
    import subprocess

    images, labels = _two_pairs(tmp_path)
    out = tmp_path / "out"
    (out / ".uosam").mkdir(parents=True)
    if subprocess.run(["chattr", "+i", str(out)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not available here (needs root and a file system that supports it)")
    try:
        code = main(["refine", str(images), str(labels), str(out), "--quiet", "--no-gro"])
    finally:
        subprocess.run(["chattr", "-i", str(out)], check=True)
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and f"{out}: cannot write in the output folder" in err


def test_a_jpeg_label_is_named_not_reported_as_missing(tmp_path, capsys):
    """Third CLI trial: a label saved as JPEG was reported as "no label for this image"."""
    images, labels = _two_pairs(tmp_path)
    first = sorted(labels.iterdir())[0]
    Image.open(first).convert("L").save(first.with_suffix(".jpg"))
    first.unlink()
    code = main(["refine", str(images), str(labels), str(tmp_path / "out"), "--quiet", "--no-gro"])
    err = capsys.readouterr().err
    assert code == EXIT_SKIPPED and err.count("\n") == 1
    assert f"{first.with_suffix('.jpg')}: not read as this image's label: labels must be PNG files" in err


def test_hungarian_scores_do_not_depend_on_how_clusters_are_numbered(tmp_path, capsys):
    """Third CLI trial: the same STEGO maps scored 30.57 with cluster ids in 0..26 and 39.74 with the
    same clusters numbered over 0..255 (empty id columns took part in the matching, so badly matched
    clusters fell out of the false positives); a prediction of 255 everywhere scored pAcc 21 with
    --hungarian and 0 without."""
    from conftest import SHARED

    coco = SHARED / "cocostuff27-uss"
    stems = ["00", "03", "05", "08"]
    folders = {name: tmp_path / name for name in ("gt", "ids", "shuffled", "spread", "unlabelled")}
    for folder in folders.values():
        folder.mkdir()
    rng = np.random.default_rng(3)
    shuffle, spread = rng.permutation(27), rng.choice(np.arange(255), 27, replace=False)  # 255: the ignore id
    for stem in stems:
        gt, _ = read_labels(coco / "label" / f"{stem}.png")
        pred, _ = read_labels(coco / "stego" / f"{stem}.png")
        height, width = min(gt.shape[0], pred.shape[0]), min(gt.shape[1], pred.shape[1])
        gt, pred = gt[:height, :width], pred[:height, :width]
        Image.fromarray(gt.astype(np.uint8)).save(folders["gt"] / f"{stem}.png")
        for name, ids in (("ids", pred), ("shuffled", shuffle[pred]), ("spread", spread[pred]),
                          ("unlabelled", np.full_like(pred, 255))):
            Image.fromarray(ids.astype(np.uint8)).save(folders[name] / f"{stem}.png")

    def scores(name: str) -> dict:
        main(["eval", str(folders[name]), str(folders["gt"]), "--num-classes", "27", "--hungarian", "--json"])
        return json.loads(capsys.readouterr().out.strip().splitlines()[-1])

    reference = scores("ids")
    assert 0 < reference["mIoU"] < 100
    for name in ("shuffled", "spread"):
        assert scores(name) == pytest.approx(reference), name
    nothing = scores("unlabelled")
    assert nothing["mIoU"] == 0 and nothing["pAcc"] == 0


def test_a_rerun_with_other_settings_names_the_settings_it_changed(tmp_path, capsys):
    """Third CLI trial: after --max-prompts 20 the re-run said "redo x.png: settings changed" without
    saying which, and "refined 2, already done 0" without saying the 2 were made again."""
    images, labels = _two_pairs(tmp_path)
    out = tmp_path / "out"
    assert main(["refine", str(images), str(labels), str(out), "--quiet", "--no-gro"]) == 0
    capsys.readouterr()
    assert main(["refine", str(images), str(labels), str(out), "--quiet", "--no-gro", "--iou-threshold", "0.5",
                 "--min-object-area", "80"]) == 0
    captured = capsys.readouterr()
    redo = [line for line in captured.err.splitlines() if line.startswith("redo ")]
    assert len(redo) == 2, captured.err
    assert all(line.endswith(": settings changed: lro.iou_threshold 0.33 -> 0.5, lro.min_object_area 64 -> 80")
               for line in redo), redo
    assert captured.out.startswith("refined 2 (2 of them again), already done 0")


def test_cli_trial_messages_name_the_real_problem(tmp_path, capsys):
    """Third CLI trial: a valid MobileSAM file verified as vit_b was called truncated; a folder given
    as the checkpoint was "not found"; a file given as the images folder was "not found"; a bad
    option value printed the whole 34-line usage block; eval took --ignore-index 300."""
    from uosam_core import weights

    mobile = weights.cached_path("vit_t")
    assert main(["weights", "verify", "--model", "vit_b", "--checkpoint", str(mobile)]) == 2
    err = capsys.readouterr().err
    assert "this is the vit_t checkpoint (mobile_sam.pt), not vit_b" in err and "truncated" not in err
    assert main(["weights", "verify", "--checkpoint", str(tmp_path)]) == 2
    assert "is a folder, not a checkpoint file" in capsys.readouterr().err
    image = next((DEMO / "images").glob("*.png"))
    assert main(["refine", str(image), str(DEMO / "labels"), str(tmp_path / "out")]) == 2
    assert f"{image}: is a file, not the images folder" in capsys.readouterr().err
    for argv in (["refine", str(DEMO / "images"), str(DEMO / "labels"), str(tmp_path / "o"), "--iou-threshold", "nan"],
                 ["eval", str(tmp_path), str(tmp_path), "--num-classes", "3", "--ignore-index", "300"]):
        with pytest.raises(SystemExit) as stop:
            main(argv)
        err = capsys.readouterr().err
        assert stop.value.code == 2 and err.count("\n") == 1 and "usage:" not in err and "--help" in err, err


def test_eval_warns_when_every_prediction_is_the_ignore_id(tmp_path, capsys):
    """User trial: predictions that are all 255 (e.g. a failed export) scored mIoU 0.00 without a word."""
    gt_dir, pred_dir = tmp_path / "gt", tmp_path / "pred"
    gt_dir.mkdir(), pred_dir.mkdir()
    for path in (DEMO / "ground_truth").glob("*.png"):
        shutil.copy(path, gt_dir / path.name)
        labels, _ = read_labels(path)
        Image.fromarray(np.full(labels.shape, 255, np.uint8)).save(pred_dir / path.name)
    for extra in ([], ["--hungarian"]):
        main(["eval", str(pred_dir), str(gt_dir), "--num-classes", "27", *extra])
        err = capsys.readouterr().err
        assert "every prediction pixel is the ignore id 255" in err
    main(["eval", str(gt_dir), str(gt_dir), "--num-classes", "27"])
    assert "ignore id" not in capsys.readouterr().err

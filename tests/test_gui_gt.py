"""Issue 11 item 6: ground truth in the app. Per-image and total mIoU of the baseline and the current
labels, in the file list and the status line, equal to ``uosam eval`` (run through its entry point)
on the same files; sorting by gain; one image re-scored after an accept. Real VOC files, the real
window (offscreen), the real checkpoint; one 513x513 image is refined (no GRO), the rest use baselines."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, SHARED
from PySide6.QtCore import QPoint, QSettings, Qt
from PySide6.QtTest import QTest

from uosam_core import cli
from uosam_core.config import GroConfig, RefineConfig
from uosam_core.image_io import read_labels
from uosam_core.image_scores import PairCounts, image_confusion, set_scores
from uosam_core.metrics import Evaluator
from uosam_core.result_store import ResultStore
from uosam_gui.controller import RefineController
from uosam_gui.gt_flow import _stored_labels, _unchanged
from uosam_gui.gt_scores import GtSort
from uosam_gui.main_window import MainWindow

VOC = SHARED / "voc12-val14"
VOC_NAMES = ROOT / "resources" / "classes" / "voc21.txt"
FIRST = "2007_000033"
REFINE_TIMEOUT_MS = 240_000

pytestmark = pytest.mark.skipif(not VOC.is_dir(), reason="shared VOC data not found")


def eval_values(capsys, pred: Path, gt: Path) -> dict[str, float]:
    """``uosam eval PRED GT --num-classes 21 --json`` through the command's entry point."""
    capsys.readouterr()
    cli.main(["eval", str(pred), str(gt), "--num-classes", "21", "--json"])
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def voc_keys() -> list[str]:
    return sorted(path.stem for path in (VOC / "coarse16").glob("*.png"))


# ---------------------------------------------------------------------------------------- core
def test_pair_counts_fold_to_every_class_count_and_add_up_to_eval(capsys):
    """The sparse counts give eval's matrix for any class count, the per-image mIoU of eval on that
    image, and summed, eval's totals on the folder."""
    counts = []
    for key in voc_keys()[:4]:
        pred, gt = read_labels(VOC / "coarse16" / f"{key}.png")[0], read_labels(VOC / "label" / f"{key}.png")[0]
        pair = PairCounts.of(pred, gt, ignore_index=255)
        for num_classes in (1, 3, 16, 21, 40, 256):
            assert np.array_equal(pair.matrix(num_classes), image_confusion(pred, gt, num_classes=num_classes))
        shifted = np.where(pred == 0, -1, pred)  # negative predictions count as errors, as in eval
        assert np.array_equal(PairCounts.of(shifted, gt).matrix(21), image_confusion(shifted, gt, num_classes=21))
        evaluator = Evaluator(21, 255)
        evaluator.add(pred, gt)
        assert pair.miou(21) == evaluator.scores().miou
        on_file = eval_values(capsys, VOC / "coarse16" / f"{key}.png", VOC / "label" / f"{key}.png")
        assert pair.miou(21) == on_file["mIoU"]
        counts.append(pair)
    total = set_scores(counts, num_classes=21)
    evaluator = Evaluator(21, 255)
    for key in voc_keys()[:4]:
        evaluator.add(read_labels(VOC / "coarse16" / f"{key}.png")[0], read_labels(VOC / "label" / f"{key}.png")[0])
    assert (total.miou, total.pacc) == (evaluator.scores().miou, evaluator.scores().pacc)


# ---------------------------------------------------------------------------------------- window
def make_window(qtbot, tmp_path: Path) -> MainWindow:
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    controller = RefineController(device="cpu", config=RefineConfig(gro=GroConfig(profile="off")))
    window = MainWindow(controller, settings)
    qtbot.addWidget(window)
    window.resize(1500, 900)
    window.show()
    qtbot.waitExposed(window)
    return window


def row_texts(window: MainWindow) -> dict[str, list[str]]:
    """The file list as shown: key -> [image, base mIoU, now mIoU, gain] cell texts, in list order."""
    tree = window.file_panel.list
    rows = {}
    for row in range(tree.topLevelItemCount()):
        item = tree.topLevelItem(row)
        rows[item.data(0, Qt.ItemDataRole.UserRole)] = [item.text(column) for column in range(4)]
    return rows


def test_gt_columns_sorting_and_totals_equal_uosam_eval(qtbot, tmp_path, capsys):
    window = make_window(qtbot, tmp_path)
    window.file_panel.filter_edit.setText(FIRST)  # only the shown image is refined (no look-ahead)
    out = tmp_path / "out"
    assert window.open_dataset(VOC / "image", VOC / "coarse16", out)
    window.gt.ask_folder = lambda: VOC / "label"  # the folder dialog's answer
    window.menu_actions.open_gt.trigger()  # File > Open ground truth...
    qtbot.waitUntil(lambda: window.document is not None, timeout=REFINE_TIMEOUT_MS)
    qtbot.waitUntil(lambda: not window.gt.busy and window.gt.truth.entries[FIRST].current is not None,
                    timeout=30_000)
    window.file_panel.filter_edit.setText("")
    truth = window.gt.truth
    # no classes file: the class count is inferred from the ground truth (ids 0..17 occur) and said so
    assert truth.num_classes == 18 and "inferred" in window.gt.status_label.text()
    # File > Load classes... (the 21 VOC names): scored with 21 classes at once, no file read again
    window.class_loader.ask_file = lambda: VOC_NAMES
    window.menu_actions.load_classes.trigger()
    assert truth.num_classes == 21 and truth.ignore_index == 255 and not window.gt.busy
    assert "inferred" not in window.gt.status_label.text()

    # per image: "base" is eval on the baseline file, "now" of an image not refined is the same
    rows = row_texts(window)
    assert len(rows) == 14
    for key in voc_keys():
        expected = eval_values(capsys, VOC / "coarse16" / f"{key}.png", VOC / "label" / f"{key}.png")["mIoU"]
        assert truth.miou(key, current=False) == expected
        assert rows[key][1] == f"{expected:.2f}"
        if key != FIRST:
            assert rows[key][2] == rows[key][1] and rows[key][3] == "+0.00"

    # the refined image: accept its second object by clicking the row and the Accept button; the
    # "now" column follows (one image counted again), and equals eval on the saved file
    before = truth.miou(FIRST, current=True)
    document = window.document
    target = next(obj.index for obj in document.objects if not obj.uses_refined)
    table = window.object_panel.table
    QTest.mouseClick(table.viewport(), Qt.MouseButton.LeftButton,
                     pos=table.visualItemRect(table.item(target, 2)).center())
    qtbot.waitUntil(lambda: window.selected == target, timeout=5_000)
    QTest.mouseClick(window.object_panel.accept_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: truth.miou(FIRST, current=True) != before, timeout=30_000)
    qtbot.waitUntil(lambda: not window.gt.busy, timeout=30_000)
    QTest.keyClick(window, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)  # save: OUT/FIRST.png
    assert (out / f"{FIRST}.png").is_file()
    refined = eval_values(capsys, out / f"{FIRST}.png", VOC / "label" / f"{FIRST}.png")["mIoU"]
    assert truth.miou(FIRST, current=True) == refined
    assert row_texts(window)[FIRST][2] == f"{refined:.2f}"
    gain = refined - truth.miou(FIRST, current=False)
    assert row_texts(window)[FIRST][3] == f"{gain:+.2f}"

    # totals: eval over the baseline folder, and over the folder the current labels make
    current = tmp_path / "current"
    shutil.copytree(VOC / "coarse16", current)
    shutil.copy(out / f"{FIRST}.png", current / f"{FIRST}.png")
    base_total, now_total = eval_values(capsys, VOC / "coarse16", VOC / "label"), eval_values(capsys, current,
                                                                                            VOC / "label")
    assert truth.totals(current=False).miou == base_total["mIoU"]
    assert truth.totals(current=False).pacc == base_total["pAcc"]
    assert truth.totals(current=True).miou == now_total["mIoU"]
    assert truth.totals(current=True).pacc == now_total["pAcc"]
    status = window.gt.status_label.text()
    assert f"baseline mIoU {base_total['mIoU']:.2f} pAcc {base_total['pAcc']:.2f}" in status
    assert f"current mIoU {now_total['mIoU']:.2f} pAcc {now_total['pAcc']:.2f}" in status
    assert "14/14 images, 21 classes" in status

    # sorting: most improved first / most harmed first (a click on the gain header toggles)
    window.file_panel.sort_combo.setCurrentText(GtSort.MOST_IMPROVED.value)
    order = list(row_texts(window))
    gains = [truth.gain(key) for key in order]
    assert gains == sorted(gains, reverse=True) and order == window.file_panel.visible_keys()
    assert order[0 if gain > 0 else -1] == FIRST
    header = window.file_panel.list.header()
    gain_header = QPoint(header.sectionViewportPosition(3) + 5, header.height() // 2)
    QTest.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=gain_header)
    assert window.file_panel.sort_combo.currentText() == GtSort.MOST_HARMED.value
    gains = [truth.gain(key) for key in row_texts(window)]
    assert gains == sorted(gains)
    assert window.reviewer.visible_keys() == list(row_texts(window))  # N / P walk the list in this order

    # undo the accept (Ctrl+Z): "now" is the automatic result again, which is also what the result
    # store keeps, the source of "now" for an unchanged image that is not in memory (after Refine all)
    QTest.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: truth.miou(FIRST, current=True) == before, timeout=30_000)
    store = ResultStore(out)
    assert np.array_equal(_stored_labels(store, FIRST), window.document.labels)
    assert _unchanged(window.session.records[FIRST])


def test_command_line_refuses_a_missing_gt_folder_or_class_count_in_one_line(tmp_path, capsys):
    from uosam_gui import app

    base = [str(VOC / "image"), str(VOC / "coarse16"), "--out", str(tmp_path / "out")]
    assert app.main([*base, "--gt", str(tmp_path / "nowhere")]) == 2
    assert capsys.readouterr().err.strip() == f"uosam-gui: {tmp_path / 'nowhere'}: ground-truth folder not found"
    assert app.main([*base, "--gt", str(VOC / "label"), "--num-classes", "0"]) == 2
    assert "--num-classes must be at least 1" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # nothing was opened


def test_ground_truth_pairs_by_key_and_names_a_bad_file_in_one_line(tmp_path):
    from uosam_core.image_io import InputError
    from uosam_gui.gt_scores import GroundTruth, count_pair

    keys = voc_keys()[:3]
    folder = tmp_path / "gt"
    (folder / "nested").mkdir(parents=True)
    shutil.copy(VOC / "label" / f"{keys[0]}.png", folder)
    shutil.copy(VOC / "label" / f"{keys[1]}.png", folder / "nested")  # found by its stem
    (folder / f"{keys[2]}.png").write_bytes(b"not a png")
    truth = GroundTruth(folder, [*keys, "missing"], num_classes=21)
    assert truth.entries[keys[1]].gt_path == folder / "nested" / f"{keys[1]}.png"
    assert truth.entries["missing"].gt_path is None and "no ground truth" in truth.entries["missing"].problem
    with pytest.raises(InputError) as raised:
        count_pair(VOC / "coarse16" / f"{keys[2]}.png", truth.entries[keys[2]].gt_path, ignore_index=255)
    assert str(folder / f"{keys[2]}.png") in str(raised.value) and "\n" not in str(raised.value)
    for key in keys[:2]:
        counts = count_pair(VOC / "coarse16" / f"{key}.png", truth.entries[key].gt_path, ignore_index=255)
        truth.set_counts(key, counts, current=False)
    truth.set_counts(keys[2], None, current=False, problem="bad")
    assert truth.pending == 0 and truth.scored == keys[:2] and np.isnan(truth.miou("missing", current=True))
    assert truth.totals_line().startswith("GT 2/3 images, 21 classes: baseline mIoU")
    with pytest.raises(InputError, match="ground-truth folder not found"):
        GroundTruth(tmp_path / "nowhere", keys, num_classes=21)

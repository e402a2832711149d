"""Folder evaluation: pair predictions with ground truth and score them (standard or PASS protocol)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

from .image_io import InputError, read_labels
from .metrics import Evaluator, common_crop, confusion, hungarian_mapping

PASS_CLASSES = 51  # ImageNet-S50: 50 classes + background
PASS_IGNORE = 1000


@dataclass
class EvalReport:
    """Scores of a folder evaluation, and the files that could not be scored."""

    line: str
    values: dict[str, float]
    skipped: list[str]


def _pairs(pred_dir: Path, gt_dir: Path) -> tuple[list[tuple[Path, Path]], list[str]]:
    if pred_dir.is_file() and gt_dir.is_file():
        return [(pred_dir, gt_dir)], []
    gts = {p.relative_to(gt_dir).with_suffix("").as_posix(): p for p in sorted(gt_dir.rglob("*.png"))}
    pairs, skipped = [], []
    for key, gt in gts.items():
        pred = pred_dir / f"{key}.png"
        if pred.is_file():
            pairs.append((pred, gt))
        else:
            skipped.append(f"{gt}: no prediction {pred}")
    return pairs, skipped


def evaluate_folders(pred_dir: Path, gt_dir: Path, *, num_classes: int, ignore_index: int | None = 255,
                     hungarian: bool = False, protocol: str = "standard") -> EvalReport:
    """Score every prediction that has a ground truth of the same relative path."""
    if protocol == "pass":
        return _evaluate_pass(Path(pred_dir), Path(gt_dir))
    pairs, skipped = _pairs(Path(pred_dir), Path(gt_dir))
    loaded = []
    for pred_path, gt_path in pairs:
        try:
            pred, _ = read_labels(pred_path)
            gt, _ = read_labels(gt_path)
            loaded.append(common_crop(pred, gt))
        except (InputError, ValueError) as problem:
            skipped.append(f"{pred_path}: {problem}")
    if not loaded:
        raise InputError(f"{pred_dir}: no prediction could be paired with {gt_dir}")
    mapping = None
    if hungarian:
        clusters = max(int(pred.max()) + 1 for pred, _ in loaded)
        clusters = max(clusters, num_classes)
        total = sum(confusion(pred, gt, num_classes, ignore_index, num_pred=clusters) for pred, gt in loaded)
        mapping = hungarian_mapping(total)
    evaluator = Evaluator(num_classes, ignore_index, dilation_ratio=0.02)
    for pred, gt in loaded:
        if mapping is not None:
            pred = np.where(pred < len(mapping), mapping[np.clip(pred, 0, len(mapping) - 1)], -1)
        evaluator.add(pred, gt)
    scores = evaluator.scores()
    values = {"mIoU": scores.miou, "pAcc": scores.pacc, "boundaryIoU": scores.boundary_iou}
    return EvalReport(f"{scores.line()}  ({len(loaded)} images)", values, skipped)


def _evaluate_pass(pred_dir: Path, gt_dir: Path) -> EvalReport:
    """ImageNet-S50 as PASS scores it: R + 256*G ids, 1000 ignore, per-image Hungarian matching,
    mIoU over 51 classes, boundary mIoU (dilation 0.03), image accuracy and F-beta (beta^2 = 0.3)."""
    pairs, skipped = _pairs(pred_dir, gt_dir)
    evaluator = Evaluator(PASS_CLASSES, PASS_IGNORE, dilation_ratio=0.03)
    correct_images = 0
    f_scores = []
    beta2 = 0.3
    for pred_path, gt_path in pairs:
        try:
            pred, _ = read_labels(pred_path, encoding="pass")
            gt, _ = read_labels(gt_path, encoding="pass")
            pred, gt = common_crop(pred, gt)
        except (InputError, ValueError) as problem:
            skipped.append(f"{pred_path}: {problem}")
            continue
        valid = gt != PASS_IGNORE
        pred_ids = np.unique(pred[valid])
        gt_ids = np.unique(gt[valid])
        matrix = np.array([[np.sum((gt == g) & (pred == p) & valid) for p in pred_ids] for g in gt_ids])
        rows, cols = linear_sum_assignment(matrix, maximize=True)
        lookup = {int(pred_ids[c]): int(gt_ids[r]) for r, c in zip(rows, cols)}
        mapped = np.full(pred.shape, PASS_CLASSES, np.int64)  # unmatched ids count as wrong
        for source, target in lookup.items():
            mapped[pred == source] = target
        mapped = np.where(mapped >= PASS_CLASSES, -1, mapped)
        evaluator.add(mapped, np.where(valid, gt, PASS_IGNORE))
        gt_fg = [g for g in gt_ids if g != 0]
        pred_fg, counts = np.unique(mapped[(mapped > 0)], return_counts=True)
        if gt_fg and pred_fg.size and int(pred_fg[np.argmax(counts)]) == int(gt_fg[0]):
            correct_images += 1
        fg_pred, fg_gt = (mapped > 0) & valid, (gt > 0) & valid
        tp = np.logical_and(fg_pred, fg_gt).sum()
        precision = tp / max(fg_pred.sum(), 1)
        recall = tp / max(fg_gt.sum(), 1)
        f_scores.append((1 + beta2) * precision * recall / max(beta2 * precision + recall, 1e-12))
    if not f_scores:
        raise InputError(f"{pred_dir}: no prediction could be paired with {gt_dir}")
    scores = evaluator.scores()
    values = {"mIoU": scores.miou, "pAcc": scores.pacc, "boundaryIoU": scores.boundary_iou,
              "ImgAcc": correct_images / len(f_scores) * 100, "Fbeta": float(np.mean(f_scores)) * 100}
    line = (f"mIoU {values['mIoU']:.2f}  boundary mIoU {values['boundaryIoU']:.2f}  Img-Acc {values['ImgAcc']:.2f}"
            f"  F-beta {values['Fbeta']:.2f}  ({len(f_scores)} images)")
    return EvalReport(line, values, skipped)

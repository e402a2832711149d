"""Folder evaluation: pair predictions with ground truth and score them (standard or PASS protocol).

Images are read and scored one pair at a time, so memory is flat in the number of images
(``--hungarian`` reads the files twice: cluster x class counts first, then the scores).
Predicted or ground-truth ids outside 0..N-1 (other than the ignore id) count as errors.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

from .image_io import LABEL_SUFFIXES, InputError, read_labels
from .metrics import Evaluator, common_crop, confusion, hungarian_mapping
from .pairing import index_files

PASS_CLASSES = 51  # ImageNet-S50: 50 classes + background
PASS_IGNORE = 1000
EIGHT_BIT_IDS = 256  # prediction ids an 8-bit label PNG can hold


@dataclass
class EvalReport:
    """Scores of a folder evaluation, and the files that could not be scored (one line each)."""

    line: str
    values: dict[str, float]
    skipped: list[str]
    warnings: list[str] = field(default_factory=list)


def _pairs(pred_dir: Path, gt_dir: Path) -> tuple[list[tuple[Path, Path]], list[str]]:
    """(prediction, ground truth) paths by relative path (any case of .png), and the reasons for the rest."""
    if pred_dir.is_file() and gt_dir.is_file():
        return [(pred_dir, gt_dir)], []
    for folder in (pred_dir, gt_dir):
        if not folder.is_dir():
            problem = "not a folder (give two folders or two files)" if folder.exists() else "folder not found"
            raise InputError(f"{folder}: {problem}", path=folder)
    gts, preds = index_files(gt_dir, LABEL_SUFFIXES), index_files(pred_dir, LABEL_SUFFIXES)
    skipped = [f"{paths[0]}: same key as {', '.join(p.name for p in paths[1:])}; skipped as ambiguous"
               for index in (gts, preds) for paths in index.duplicates.values()]
    skipped += [f"{folder}: folder could not be listed ({reason})" for folder, reason in gts.unlisted + preds.unlisted]
    pairs = []
    for key, gt in gts.unique.items():
        pred = preds.unique.get(key)
        if pred is not None:
            pairs.append((pred, gt))
        elif key not in preds.duplicates:
            skipped.append(f"{gt}: no prediction {pred_dir / key}.png")
    return pairs, skipped


def _read_pair(pred_path: Path, gt_path: Path, encoding: str) -> tuple[np.ndarray, np.ndarray]:
    """Both maps, cropped to their common size; InputError naming the file at fault."""
    pred, _ = read_labels(pred_path, encoding=encoding)
    gt, _ = read_labels(gt_path, encoding=encoding)
    try:
        return common_crop(pred, gt)
    except ValueError as problem:
        raise InputError(f"{pred_path}: {problem} (ground truth {gt_path})", path=pred_path) from None


def _readable(pairs: list[tuple[Path, Path]], encoding: str,
              skipped: list[str]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield each pair's maps one at a time; a bad pair adds one line to ``skipped`` and is left out."""
    for pred_path, gt_path in pairs:
        try:
            yield _read_pair(pred_path, gt_path, encoding)
        except InputError as problem:
            skipped.append(str(problem))


def _match_clusters(pairs: list[tuple[Path, Path]], num_classes: int, ignore_index: int | None,
                    skipped: list[str]) -> tuple[list[tuple[Path, Path]], np.ndarray]:
    """First pass of ``--hungarian``: cluster x class counts over all pairs, one pair at a time.

    Only the cluster ids that occur in the predictions are matched, so the score does not depend on how
    the clusters are numbered (ids 0..26 or spread over 0..255); the ignore id is "no prediction", an
    error as without ``--hungarian``. Returns the readable pairs and ``mapping[cluster] = class`` (-1:
    unmatched, an error when scored: more clusters than classes leave some unmatched).
    """
    clusters = max(EIGHT_BIT_IDS, num_classes)
    total = np.zeros((num_classes, clusters), np.int64)
    present = np.zeros(clusters, bool)
    readable = []
    for pred_path, gt_path in pairs:
        try:
            pred, gt = _read_pair(pred_path, gt_path, "ids")
        except InputError as problem:
            skipped.append(str(problem))
            continue
        total += confusion(pred, gt, num_classes, ignore_index, num_pred=clusters)
        present |= np.bincount(pred[(pred >= 0) & (pred < clusters)].ravel(), minlength=clusters) > 0
        readable.append((pred_path, gt_path))
    if ignore_index is not None and 0 <= ignore_index < clusters:
        present[ignore_index] = False
    mapping = np.full(clusters, -1, np.int64)
    if present.any():
        mapping[np.flatnonzero(present)] = hungarian_mapping(total[:, present])
    return readable, mapping


def _nothing_scored(pred_dir: Path, gt_dir: Path, skipped: list[str]) -> str:
    """The one line for a folder pair of which no prediction could be scored, with the first reason."""
    if not skipped:
        return f"{pred_dir}: no prediction could be paired with {gt_dir}"
    more = f" (and {len(skipped) - 1} more)" if len(skipped) > 1 else ""
    return f"{pred_dir}: no prediction could be scored against {gt_dir}: {skipped[0]}{more}"


def evaluate_folders(pred_dir: Path, gt_dir: Path, *, num_classes: int, ignore_index: int | None = 255,
                     hungarian: bool = False, protocol: str = "standard") -> EvalReport:
    """Score every prediction that has a ground truth of the same relative path."""
    if protocol == "pass":
        return _evaluate_pass(Path(pred_dir), Path(gt_dir))
    if num_classes < 1:
        raise ValueError(f"num_classes must be at least 1, got {num_classes}")
    pairs, skipped = _pairs(Path(pred_dir), Path(gt_dir))
    mapping = None
    if hungarian:
        pairs, mapping = _match_clusters(pairs, num_classes, ignore_index, skipped)
    evaluator = Evaluator(num_classes, ignore_index, dilation_ratio=0.02)
    scored = 0
    highest = {"ground truth": -1, "prediction": -1}
    predicted = 0  # prediction pixels that are not the ignore id
    for pred, gt in _readable(pairs, "ids", skipped):
        predicted += int((pred != ignore_index).sum()) if ignore_index is not None else pred.size
        if mapping is not None:
            pred = np.where((pred >= 0) & (pred < len(mapping)), mapping[np.clip(pred, 0, len(mapping) - 1)], -1)
        evaluator.add(pred, gt)
        scored += 1
        for name, ids in (("ground truth", gt), ("prediction", pred)):
            counted = ids[ids != ignore_index] if ignore_index is not None else ids
            if counted.size:
                highest[name] = max(highest[name], int(counted.max()))
    if not scored:
        raise InputError(_nothing_scored(pred_dir, gt_dir, skipped), path=pred_dir)
    scores = evaluator.scores()
    values = {"mIoU": scores.miou, "pAcc": scores.pacc, "boundaryIoU": scores.boundary_iou}
    warnings = [f"{name} ids reach {top}, beyond --num-classes {num_classes} (ids 0..{num_classes - 1}): "
                f"those pixels count as errors" for name, top in highest.items() if top >= num_classes]
    if not predicted:
        warnings.append(f"every prediction pixel is the ignore id {ignore_index} (no class predicted): "
                        "those pixels count as errors; is --ignore-index right?")
    return EvalReport(f"{scores.line()}  ({scored} images)", values, skipped, warnings)


def _evaluate_pass(pred_dir: Path, gt_dir: Path) -> EvalReport:
    """ImageNet-S50 as PASS scores it: R + 256*G ids, 1000 ignore, per-image Hungarian matching,
    mIoU over 51 classes, boundary mIoU (dilation 0.03), image accuracy and F-beta (beta^2 = 0.3)."""
    pairs, skipped = _pairs(pred_dir, gt_dir)
    evaluator = Evaluator(PASS_CLASSES, PASS_IGNORE, dilation_ratio=0.03)
    correct_images = 0
    f_scores = []
    beta2 = 0.3
    for pred, gt in _readable(pairs, "pass", skipped):
        valid = gt != PASS_IGNORE
        pred_ids = np.unique(pred[valid])
        gt_ids = np.unique(gt[valid])
        matrix = np.array([[np.sum((gt == g) & (pred == p) & valid) for p in pred_ids] for g in gt_ids])
        rows, cols = linear_sum_assignment(matrix, maximize=True) if matrix.size else ([], [])
        lookup = {int(pred_ids[c]): int(gt_ids[r]) for r, c in zip(rows, cols)}
        mapped = np.full(pred.shape, -1, np.int64)  # unmatched ids count as wrong
        for source, target in lookup.items():
            mapped[pred == source] = target
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
        raise InputError(_nothing_scored(pred_dir, gt_dir, skipped), path=pred_dir)
    scores = evaluator.scores()
    values = {"mIoU": scores.miou, "pAcc": scores.pacc, "boundaryIoU": scores.boundary_iou,
              "ImgAcc": correct_images / len(f_scores) * 100, "Fbeta": float(np.mean(f_scores)) * 100}
    line = (f"mIoU {values['mIoU']:.2f}  boundary mIoU {values['boundaryIoU']:.2f}  Img-Acc {values['ImgAcc']:.2f}"
            f"  F-beta {values['Fbeta']:.2f}  ({len(f_scores)} images)")
    return EvalReport(line, values, skipped)

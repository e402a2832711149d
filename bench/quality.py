"""Quality benchmark: baseline vs the refinement variants vs dense CRF on the shared sets.

Usage: python bench/quality.py [--sets cocostuff27/cause,camvid/coarse8] [--limit N] [--variants lro,lro+gro]
           [--cache-dir DIR] [--report DIR] [--no-crf] [--save-labels DIR] [--labels-from DIR]
Prints one table (mIoU / pAcc / boundary IoU / s per image per set and variant, a dense CRF row), then per
set a per-class IoU table (deltas against the baseline, classes losing > 2 points flagged) and the ten
worst images per variant, each written as image | truth | baseline | refined | fixed/broken PNG under
--report (default bench/out/quality/<set>/<variant>/). The refinement is uosam_core.pipeline.Refiner with
RefineConfig defaults (``lro+gro``); --save-labels keeps each refined label map so a later run with
--labels-from scores them without refining.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from crf_dense import CrfSettings, dense_crf, unavailable_reason  # noqa: E402
from datasets import EvalSet, eval_sets, load_triplet  # noqa: E402, F401 (load_triplet: bench/speed.py)
from quality_report_images import WorstImages, image_score, side_by_side, worst_line, write_png  # noqa: E402
from quality_report_labels import LabelStore  # noqa: E402
from quality_report_tables import ClassLoss, per_class_table, worst_class_losses  # noqa: E402

from uosam_core.atomic import write_text  # noqa: E402
from uosam_core.config import RefineConfig  # noqa: E402
from uosam_core.embedding_cache import EmbeddingCache  # noqa: E402
from uosam_core.engine import SamEngine  # noqa: E402
from uosam_core.image_io import InputError  # noqa: E402
from uosam_core.metrics import Evaluator  # noqa: E402
from uosam_core.pipeline import Refiner  # noqa: E402

CRF = "crf"
DEFAULT_REPORT = Path(__file__).resolve().parent / "out" / "quality"


def variants(base: RefineConfig) -> dict[str, RefineConfig]:
    """The refinement variants by name; ``lro+gro`` is ``base`` itself (the defaults)."""
    return {
        "lro": replace(base, gro=replace(base.gro, profile="off")),
        "lro+gro": base,
        "gro": replace(base, lro=replace(base.lro, enabled=False)),
        "paper": replace(base, gro=replace(base.gro, profile="paper")),
    }


def config_with_overrides(overrides: list[str]) -> RefineConfig:
    """RefineConfig defaults with ``lro.x=v`` / ``gro.x=v`` / ``x=v`` overrides applied."""
    config = RefineConfig()
    for item in overrides:
        key, value = item.split("=", 1)
        section, _, name = key.rpartition(".")
        target = getattr(config, section) if section else config
        current = getattr(target, name)
        parsed = type(current)(value) if not isinstance(current, bool) else value.lower() in ("1", "true")
        if section:
            config = replace(config, **{section: replace(target, **{name: parsed})})
        else:
            config = replace(config, **{name: parsed})
    return config


class LazyEngine:
    """Loads MobileSAM on first use only, so a run that reads every label from --labels-from needs none."""

    def __init__(self, cache_dir: str) -> None:
        self.cache_dir = cache_dir
        self._engine: SamEngine | None = None

    def get(self) -> SamEngine:
        if self._engine is None:
            self._engine = SamEngine.load(cache=EmbeddingCache(max_items=4, disk_dir=self.cache_dir or None))
        return self._engine


@dataclass
class VariantRun:
    """One row's accumulators: scores, refining seconds (measured or read back), worst images."""

    evaluator: Evaluator
    worst: WorstImages
    seconds: float = 0.0
    timed: int = 0
    images: int = 0


@dataclass
class SetReport:
    """What one set printed: its main-table rows, its per-class lines, its class changes."""

    rows: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    changes: list[ClassLoss] = field(default_factory=list)


def produce_labels(name: str, eval_set: EvalSet, stem: str, image: np.ndarray, baseline: np.ndarray,
                   configs: dict[str, RefineConfig], engine: LazyEngine, crf: CrfSettings,
                   store: LabelStore) -> tuple[np.ndarray, float | None]:
    """A variant's labels for one image, read back from the store or computed (then saved), and the
    seconds they took (None when unknown)."""
    stored = store.load(eval_set.name, name, stem, baseline.shape)
    if stored is not None:
        return stored
    start = time.perf_counter()
    if name == CRF:
        labels = dense_crf(image, baseline, eval_set.num_classes, crf)
    else:
        labels = Refiner(engine.get(), configs[name]).refine(image, baseline).labels
    seconds = time.perf_counter() - start
    store.save(eval_set.name, name, stem, labels, seconds)
    return labels, seconds


def run_set(eval_set: EvalSet, names: list[str], configs: dict[str, RefineConfig], args: argparse.Namespace,
            engine: LazyEngine, store: LabelStore, crf_note: str | None,
            say: Callable[[str], None]) -> SetReport:
    """Score the baseline and every variant on one set; write its worst-image PNGs; return its lines."""
    stems = eval_set.stems()[: args.limit or None]
    baseline_eval = Evaluator(eval_set.num_classes, eval_set.ignore_index)
    scored = 0
    runs = {name: VariantRun(Evaluator(eval_set.num_classes, eval_set.ignore_index), WorstImages(args.worst))
            for name in names}
    crf = CrfSettings(gt_prob=args.crf_gt_prob)
    for stem in stems:
        try:
            image, gt, baseline = load_triplet(eval_set, stem)
        except (InputError, ValueError) as error:
            say(f"{eval_set.name}/{stem}: skipped: {' '.join(str(error).split())}")
            continue
        baseline_eval.add(baseline, gt)
        scored += 1
        base_score = image_score(baseline, gt, eval_set.num_classes, eval_set.ignore_index)
        for name, run in runs.items():
            if name == "paper" and run.images >= args.paper_limit:
                continue
            try:
                labels, seconds = produce_labels(name, eval_set, stem, image, baseline, configs, engine, crf, store)
            except ValueError as error:  # e.g. an image too large for the CRF
                say(f"{eval_set.name}/{stem}: {name} skipped: {error}")
                continue
            run.images += 1
            if seconds is not None:
                run.seconds, run.timed = run.seconds + seconds, run.timed + 1
            run.evaluator.add(labels, gt)
            run.worst.add(stem, base_score, image_score(labels, gt, eval_set.num_classes, eval_set.ignore_index),
                          labels)
    report = SetReport()
    base_scores = baseline_eval.scores()
    report.rows.append(_row(eval_set.name, scored, "baseline", base_scores, "-"))
    for name, run in runs.items():
        per_image = f"{run.seconds / run.timed:.2f}" if run.timed else "-"
        report.rows.append(_row(eval_set.name, run.images, name, run.evaluator.scores(), per_image))
    if crf_note:
        report.rows.append(f"| {eval_set.name} | - | {CRF} | {crf_note} | | | |")
    names_in_table = [name for name in runs if runs[name].images == scored]  # same images as the baseline
    partial = [name for name in runs if 0 < runs[name].images < scored]
    if partial:
        report.details.append(f"(not in the per-class table, scored on fewer images: {', '.join(partial)})")
    table, report.changes = per_class_table(
        eval_set.name, [eval_set.class_name(i) for i in range(eval_set.num_classes)], base_scores.per_class_iou,
        {name: runs[name].evaluator.scores().per_class_iou for name in names_in_table})
    report.details[:0] = table
    for name in names_in_table:
        if name != CRF:
            report.details += _worst_section(eval_set, name, runs[name].worst, Path(args.report))
    return report


def _row(set_name: str, images: int, name: str, scores, per_image: str) -> str:
    return (f"| {set_name} | {images} | {name} | {scores.miou:.2f} | {scores.pacc:.2f} | "
            f"{scores.boundary_iou:.2f} | {per_image} |")


def _worst_section(eval_set: EvalSet, name: str, worst: WorstImages, report_root: Path) -> list[str]:
    """Write the worst images' PNGs of one variant (replacing the last run's) and list them."""
    folder = report_root / eval_set.name / name
    for old in folder.glob("worst-*.png"):
        old.unlink()
    lines = ["", f"Worst images, {eval_set.name}, {name} (PNGs in {folder}; map: green fixed, red broken, "
             "grey errors of both, white void)"]
    for rank, item in enumerate(worst.ranked(), 1):
        image, gt, baseline = load_triplet(eval_set, item.stem)
        captions = (f"{eval_set.name} {item.stem}", "truth", f"baseline mIoU {item.base.miou:.1f}",
                    f"{name} mIoU {item.refined.miou:.1f}", "green fixed, red broken")
        strip = side_by_side(image, gt, baseline, item.labels, eval_set.num_classes, eval_set.ignore_index,
                             captions, background_first=eval_set.background_first)
        write_png(folder / f"worst-{rank:02d}-{item.stem}.png", strip)
        lines.append(worst_line(rank, item))
    return lines


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="", help="comma-separated set names (default: all)")
    parser.add_argument("--limit", type=int, default=0, help="first N images per set (0: all)")
    parser.add_argument("--paper-limit", type=int, default=0, help="images per set for the paper profile")
    parser.add_argument("--variants", default="lro,lro+gro", help="comma-separated: lro, lro+gro, gro, paper")
    parser.add_argument("--cache-dir", default="", help="embedding cache folder")
    parser.add_argument("--report", default=str(DEFAULT_REPORT), help="folder for the worst-image PNGs")
    parser.add_argument("--worst", type=int, default=10, help="worst images listed and drawn per set and variant")
    parser.add_argument("--no-crf", action="store_true", help="leave out the dense CRF row")
    parser.add_argument("--crf-gt-prob", type=float, default=CrfSettings.gt_prob)
    parser.add_argument("--save-labels", default="", help="write every variant's label PNGs (and seconds) here")
    parser.add_argument("--labels-from", default="", help="read label PNGs saved by --save-labels instead of "
                        "refining (reused as they are: save to a fresh folder after the algorithm changes)")
    parser.add_argument("--set", action="append", default=[], help="override: lro.x=v or gro.x=v or x=v")
    args = parser.parse_args(argv)
    unknown = {v for v in args.variants.split(",") if v} - set(variants(RefineConfig()))
    if unknown:
        parser.error(f"unknown variant(s): {', '.join(sorted(unknown))}")
    if args.paper_limit and "paper" not in args.variants.split(","):
        args.variants += ",paper"
    known = {s.name for s in eval_sets()}
    missing = {s for s in args.sets.split(",") if s} - known
    if missing:
        parser.error(f"unknown set(s): {', '.join(sorted(missing))}; known: {', '.join(sorted(known))}")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(2)
    config = config_with_overrides(args.set)
    engine = LazyEngine(args.cache_dir)
    store = LabelStore(Path(args.save_labels) if args.save_labels else None,
                       Path(args.labels_from) if args.labels_from else None)
    names = [v for v in args.variants.split(",") if v]
    args.paper_limit = args.paper_limit or 10**9  # --paper-limit 0: paper (when asked for) on every image
    crf_note = None if args.no_crf else unavailable_reason()
    if not args.no_crf and crf_note is None:
        names.append(CRF)
    wanted = [s for s in args.sets.split(",") if s]
    print("| set | images | variant | mIoU | pAcc | boundary IoU | s/image |")
    print("|---|---|---|---|---|---|---|", flush=True)
    details: list[str] = []
    changes: list[ClassLoss] = []
    for eval_set in eval_sets():
        if wanted and eval_set.name not in wanted:
            continue
        set_config = replace(config, ignore_ids=(eval_set.ignore_index,))
        report = run_set(eval_set, names, variants(set_config), args, engine, store, crf_note,
                         lambda line: print(line, flush=True))
        print("\n".join(report.rows), flush=True)
        write_text(Path(args.report) / eval_set.name / "report.md", "\n".join(report.rows + [""] + report.details)
                   + "\n")
        details += [""] + report.details
        changes += report.changes
    if args.labels_from:
        print(f"\nlabels found in {args.labels_from} were read back; their s/image is the time recorded when saved")
    if not args.no_crf:
        print("\n" + (crf_note or CrfSettings(gt_prob=args.crf_gt_prob).describe()))
    print("\n".join(details))
    print()
    for worst in worst_class_losses(changes):
        print(worst.line())


if __name__ == "__main__":
    main()

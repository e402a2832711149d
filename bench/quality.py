"""Quality benchmark: baseline vs LRO-only vs LRO+GRO (fast) vs the paper profile on the shared sets.

Usage: python bench/quality.py [--sets cocostuff27/cause,...] [--limit N] [--paper-limit N]
Prints one table (mIoU / pAcc / boundary IoU per set and variant) and seconds per image.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from datasets import eval_sets  # noqa: E402

from uosam_core.config import RefineConfig  # noqa: E402
from uosam_core.embedding_cache import EmbeddingCache  # noqa: E402
from uosam_core.engine import SamEngine  # noqa: E402
from uosam_core.image_io import read_image, read_labels  # noqa: E402
from uosam_core.metrics import Evaluator, common_crop  # noqa: E402
from uosam_core.pipeline import Refiner  # noqa: E402


def variants(base: RefineConfig) -> dict[str, RefineConfig]:
    return {
        "lro": replace(base, gro=replace(base.gro, profile="off")),
        "lro+gro": base,
        "gro": replace(base, lro=replace(base.lro, enabled=False)),
        "paper": replace(base, gro=replace(base.gro, profile="paper")),
    }


def load_triplet(eval_set, stem):
    image = read_image(eval_set.images / f"{stem}.png")
    gt, _ = read_labels(eval_set.labels / f"{stem}.png")
    pred, _ = read_labels(eval_set.baseline / f"{stem}.png")
    image, gt = common_crop(image, gt)
    image, pred = common_crop(image, pred)
    gt, pred = common_crop(gt, pred)
    image = np.ascontiguousarray(image[: gt.shape[0], : gt.shape[1]])
    return image, gt, pred


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="")
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--paper-limit", type=int, default=0, help="images per set for the paper profile (0: skip)")
    parser.add_argument("--variants", default="lro,lro+gro")
    parser.add_argument("--cache-dir", default="")
    parser.add_argument("--set", action="append", default=[], help="override: lro.x=v or gro.x=v or x=v")
    args = parser.parse_args()
    torch.set_num_threads(2)
    config = RefineConfig()
    for item in args.set:
        key, value = item.split("=", 1)
        section, _, name = key.rpartition(".")
        target = getattr(config, section) if section else config
        current = getattr(target, name)
        parsed = type(current)(value) if not isinstance(current, bool) else value.lower() in ("1", "true")
        if section:
            config = replace(config, **{section: replace(target, **{name: parsed})})
        else:
            config = replace(config, **{name: parsed})
    engine = SamEngine.load(cache=EmbeddingCache(max_items=4, disk_dir=args.cache_dir or None))
    wanted = [s for s in args.sets.split(",") if s]
    chosen = [v for v in args.variants.split(",") if v]
    print("| set | images | variant | mIoU | pAcc | boundary IoU | s/image |")
    print("|---|---|---|---|---|---|---|")
    for eval_set in eval_sets():
        if wanted and eval_set.name not in wanted:
            continue
        stems = sorted(p.stem for p in eval_set.baseline.glob("*.png"))
        if args.limit:
            stems = stems[: args.limit]
        set_config = replace(config, ignore_ids=(eval_set.ignore_index,))
        runs = {"baseline": None} | {name: cfg for name, cfg in variants(set_config).items() if name in chosen}
        if args.paper_limit:
            runs["paper"] = variants(set_config)["paper"]
        for name, cfg in runs.items():
            evaluator = Evaluator(eval_set.num_classes, eval_set.ignore_index)
            used = stems[: args.paper_limit] if name == "paper" else stems
            seconds = 0.0
            for stem in used:
                image, gt, pred = load_triplet(eval_set, stem)
                if cfg is None:
                    evaluator.add(pred, gt)
                    continue
                start = time.perf_counter()
                refined = Refiner(engine, cfg).refine(image, pred).labels
                seconds += time.perf_counter() - start
                evaluator.add(refined, gt)
            scores = evaluator.scores()
            per_image = f"{seconds / len(used):.2f}" if cfg is not None else "-"
            print(f"| {eval_set.name} | {len(used)} | {name} | {scores.miou:.2f} | {scores.pacc:.2f} | "
                  f"{scores.boundary_iou:.2f} | {per_image} |", flush=True)


if __name__ == "__main__":
    main()

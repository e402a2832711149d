"""Speed benchmark: seconds per image of the `fast` and `paper` GRO profiles, side by side.

Each image is refined from a cold embedding cache (encode included) with the CAUSE baseline, once
per profile. The paper profile's masks depend only on the image, so they are then re-voted with
the LRO map of every COCO-Stuff baseline to compare the two profiles' mIoU on the same images.

Usage: python bench/speed.py [--images 2] [--masks-dir DIR]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from datasets import eval_sets  # noqa: E402
from quality import load_triplet  # noqa: E402

from uosam_core.config import RefineConfig  # noqa: E402
from uosam_core.embedding_cache import EmbeddingCache  # noqa: E402
from uosam_core.engine import SamEngine  # noqa: E402
from uosam_core.metrics import Evaluator  # noqa: E402
from uosam_core.pipeline import Refiner  # noqa: E402
from uosam_core.result import GroResult  # noqa: E402


def timed_refine(engine: SamEngine, config: RefineConfig, image, baseline):
    engine.cache = EmbeddingCache(max_items=8)  # cold: the encode is part of the time
    start = time.perf_counter()
    result = Refiner(engine, config).refine(image, baseline)
    return result, time.perf_counter() - start


def with_masks(engine: SamEngine, config: RefineConfig, image, baseline, masks: np.ndarray, profile: str):
    """Refine with given GRO masks (largest first) instead of generating them."""
    refiner = Refiner(engine, replace(config, gro=replace(config.gro, profile="off")))
    result = refiner.refine(image, baseline)
    empty = np.zeros(len(masks))
    result.gro = GroResult(profile=profile, masks=masks, mask_scores=empty, mask_classes=empty.astype(int),
                           mask_shares=empty, vote_class=np.zeros(baseline.shape, np.int32),
                           vote_share=np.zeros(baseline.shape, np.float32), prompt_count=0, encode_count=0)
    return Refiner(engine, config).recompose(result)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2, help="images for the paper profile")
    parser.add_argument("--fast-images", type=int, default=12, help="images timed with the fast profile alone")
    parser.add_argument("--masks-dir", type=Path, default=None, help="keep paper masks here (reused if present)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    engine = SamEngine.load(device="cpu")
    sets = {s.name: s for s in eval_sets()}
    cause = sets["cocostuff27/cause"]
    all_stems = sorted(p.stem for p in cause.baseline.glob("*.png"))
    stems = all_stems[: args.images]
    config = RefineConfig()
    paper = replace(config, gro=replace(config.gro, profile="paper"))
    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
          f"torch {torch.__version__}")
    print("| image | fast s | paper s | paper / fast | fast prompts | paper prompts |")
    print("|---|---|---|---|---|---|")
    paper_masks, fast_total, paper_total = {}, 0.0, 0.0
    fast_runs = {}  # stem -> (result, seconds), reused by the fast-only table
    for stem in stems:
        image, _, baseline = load_triplet(cause, stem)
        fast_result, fast_seconds = fast_runs[stem] = timed_refine(engine, config, image, baseline)
        cached = args.masks_dir / f"{stem}.npz" if args.masks_dir else None
        if cached and cached.is_file():
            stored = np.load(cached)
            masks, paper_seconds, paper_prompts = stored["masks"], float(stored["seconds"]), int(stored["prompts"])
        else:
            paper_result, paper_seconds = timed_refine(engine, paper, image, baseline)
            masks, paper_prompts = paper_result.gro.masks, paper_result.gro.prompt_count
            if cached:
                cached.parent.mkdir(parents=True, exist_ok=True)
                np.savez_compressed(cached, masks=masks, seconds=paper_seconds, prompts=paper_prompts)
        paper_masks[stem] = masks
        fast_total += fast_seconds
        paper_total += paper_seconds
        print(f"| {stem} | {fast_seconds:.2f} | {paper_seconds:.1f} | {paper_seconds / fast_seconds:.1f}x | "
              f"{fast_result.gro.prompt_count} | {paper_prompts} |", flush=True)
    print(f"| mean | {fast_total / len(stems):.2f} | {paper_total / len(stems):.1f} | "
          f"{paper_total / fast_total:.1f}x | | |")
    print()
    print(f"fast profile alone, cold cache, CAUSE baseline, {args.fast_images} images:")
    print("| image | s | encode s | lro s | gro s | prompts |")
    print("|---|---|---|---|---|---|")
    fast_times = []
    for stem in all_stems[: args.fast_images]:
        if stem in fast_runs:
            result, seconds = fast_runs[stem]
        else:
            image, _, baseline = load_triplet(cause, stem)
            result, seconds = timed_refine(engine, config, image, baseline)
        fast_times.append(seconds)
        t = result.timings
        print(f"| {stem} | {seconds:.2f} | {t['encode']:.2f} | {t['lro']:.2f} | {t['gro']:.2f} | "
              f"{result.gro.prompt_count} |", flush=True)
    print(f"| mean | {np.mean(fast_times):.2f} | | | | |")
    print()
    print(f"mIoU on the same {len(stems)} images (fast vs paper masks, same LRO):")
    print("| baseline | baseline mIoU | fast mIoU | paper mIoU | fast - paper |")
    print("|---|---|---|---|---|")
    for name in ("cocostuff27/cause", "cocostuff27/stego", "cocostuff27/hp", "cocostuff27/recoplus"):
        eval_set = sets[name]
        scores = {key: Evaluator(eval_set.num_classes, eval_set.ignore_index) for key in ("base", "fast", "paper")}
        for stem in stems:
            image, gt, baseline = load_triplet(eval_set, stem)
            scores["base"].add(baseline, gt)
            scores["fast"].add(Refiner(engine, config).refine(image, baseline).labels, gt)
            scores["paper"].add(with_masks(engine, config, image, baseline, paper_masks[stem], "paper").labels, gt)
        base, fast, slow = (scores[k].scores().miou for k in ("base", "fast", "paper"))
        print(f"| {name} | {base:.2f} | {fast:.2f} | {slow:.2f} | {fast - slow:+.2f} |", flush=True)


if __name__ == "__main__":
    main()

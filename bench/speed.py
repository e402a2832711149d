"""Speed benchmark: seconds per image and per stage, cold (encode included), against the encoder alone.

Per image, from a cold embedding cache: encode, LRO, GRO, compose (the rest of the refinement:
painting the LRO map, the vote, filling), the total, and the encoder-only time of the same image in
the same run; then the mean ratio total / encode-only. ``--decoder both`` runs every image with
segment-anything's reference decoder and the fused CPU decoder in turn (same load, same run).
``--paper-images N`` also compares the ``fast`` and ``paper`` GRO profiles (time and mIoU).

Usage: python bench/speed.py [--images 12] [--decoder fused|reference|both] [--paper-images 0 --masks-dir DIR]
"""

from __future__ import annotations

import argparse
import os
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
from uosam_core.models import DecoderPath  # noqa: E402
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


STAGES = ("encode", "lro", "gro", "compose")


def staged_refine(engine: SamEngine, config: RefineConfig, image, baseline):
    """Seconds per stage and total of one cold refinement, and its result."""
    result, total = timed_refine(engine, config, image, baseline)
    stages = {name: result.timings.get(name, 0.0) for name in STAGES[:3]}
    stages["compose"] = total - sum(stages.values())
    stages["total"] = total
    return stages, result


def encode_only(engine: SamEngine, image) -> float:
    engine.cache = EmbeddingCache(max_items=8)
    start = time.perf_counter()
    engine.encode(image)
    return time.perf_counter() - start


def stage_table(engine: SamEngine, stems: list[str], paths: list[DecoderPath]) -> None:
    """Per image and decoder path: stage seconds, total, encoder-only seconds, and the label pixels that
    differ from the first path's; then means and ratios."""
    cause = {s.name: s for s in eval_sets()}["cocostuff27/cause"]
    config = RefineConfig()
    print("| image | decoder | encode s | lro s | gro s | compose s | total s | encode-only s | total / encode-only "
          "| prompts | labels differ px |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    rows: dict[DecoderPath, list[dict[str, float]]] = {path: [] for path in paths}
    for stem in stems:
        image, _, baseline = load_triplet(cause, stem)
        alone = encode_only(engine, image)
        first_labels = None
        for path in paths:
            engine.adapter.decoder_path = path
            stages, result = staged_refine(engine, config, image, baseline)
            stages["encode_only"] = alone
            rows[path].append(stages)
            first_labels = result.labels if first_labels is None else first_labels
            differ = int((result.labels != first_labels).sum())
            prompts = result.gro.prompt_count if result.gro is not None else 0
            cells = " | ".join(f"{stages[name]:.2f}" for name in (*STAGES, "total", "encode_only"))
            print(f"| {stem} | {path.value} | {cells} | {stages['total'] / alone:.2f} | {prompts} | {differ} |",
                  flush=True)
    for path, samples in rows.items():
        means = {name: float(np.mean([row[name] for row in samples])) for name in samples[0]}
        cells = " | ".join(f"{means[name]:.2f}" for name in (*STAGES, "total", "encode_only"))
        print(f"| mean | {path.value} | {cells} | {means['total'] / means['encode_only']:.2f} | | |")
    engine.adapter.decoder_path = DecoderPath.FUSED


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=12, help="cocostuff27 images timed per stage")
    parser.add_argument("--decoder", choices=["fused", "reference", "both"], default="fused")
    parser.add_argument("--paper-images", type=int, default=0, help="images for the fast vs paper comparison")
    parser.add_argument("--masks-dir", type=Path, default=None, help="keep paper masks here (reused if present)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    engine = SamEngine.load(device="cpu")
    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
          f"torch {torch.__version__}, load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    stems = sorted(p.stem for p in {s.name: s for s in eval_sets()}["cocostuff27/cause"].baseline.glob("*.png"))
    paths = [DecoderPath.REFERENCE, DecoderPath.FUSED] if args.decoder == "both" else [DecoderPath(args.decoder)]
    stage_table(engine, stems[: args.images], paths)
    if args.paper_images:
        print()
        compare_paper(engine, stems[: args.paper_images], args.masks_dir)
    print(f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


def compare_paper(engine: SamEngine, stems: list[str], masks_dir: Path | None) -> None:
    """Seconds per image of the fast and paper GRO profiles, and their mIoU on the same images."""
    sets = {s.name: s for s in eval_sets()}
    cause = sets["cocostuff27/cause"]
    config = RefineConfig()
    paper = replace(config, gro=replace(config.gro, profile="paper"))
    print("| image | fast s | paper s | paper / fast | fast prompts | paper prompts |")
    print("|---|---|---|---|---|---|")
    paper_masks, fast_total, paper_total = {}, 0.0, 0.0
    for stem in stems:
        image, _, baseline = load_triplet(cause, stem)
        fast_result, fast_seconds = timed_refine(engine, config, image, baseline)
        cached = masks_dir / f"{stem}.npz" if masks_dir else None
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

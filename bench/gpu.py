"""GPU benchmark: images/s and seconds per stage (read, encode, LRO, GRO, write) per model and device.

On CUDA: vit_t (MobileSAM), plus one row per ``--checkpoint`` file (vit_b / vit_l / vit_h, inferred
from the file). Without a CUDA device it says so in one line and still runs the CPU row (vit_t, on
``--cpu-images`` images) so the script itself is tested everywhere. Each row: one warm-up image,
then N timed images from a cold embedding cache (the encode is part of the time); CUDA timings are
synchronised per stage.

Usage: python bench/gpu.py [--images 12] [--cpu-images 2] [--checkpoint sam_vit_b.pth ...] [--no-gro]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from uosam_core.config import GroConfig, RefineConfig  # noqa: E402
from uosam_core.embedding_cache import EmbeddingCache  # noqa: E402
from uosam_core.engine import SamEngine  # noqa: E402
from uosam_core.image_io import read_image, read_labels, write_labels  # noqa: E402
from uosam_core.pipeline import Refiner  # noqa: E402

COCO = ROOT.parent / "shared" / "data" / "cocostuff27-uss"
STAGES = ("read", "encode", "lro", "gro", "write")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_row(engine: SamEngine, config: RefineConfig, pairs: list[tuple[Path, Path]], out: Path) -> dict[str, float]:
    """Seconds per stage summed over ``pairs`` (after one warm-up image) and the wall total."""
    refiner = Refiner(engine, config)
    totals = dict.fromkeys(STAGES, 0.0)
    warm = True
    wall = 0.0
    for image_path, label_path in [pairs[0], *pairs]:
        engine.cache = EmbeddingCache(max_items=2)  # cold: the encode is timed
        start = time.perf_counter()
        image = read_image(image_path)
        baseline, label_format = read_labels(label_path)
        read_s = time.perf_counter() - start
        result = refiner.refine(image, baseline)
        _sync(engine.device)
        tick = time.perf_counter()
        write_labels(out / image_path.name, result.labels, label_format)
        write_s = time.perf_counter() - tick
        if warm:
            warm = False
            continue
        wall += time.perf_counter() - start
        totals["read"] += read_s
        totals["write"] += write_s
        for stage in ("encode", "lro", "gro"):
            totals[stage] += result.timings.get(stage, 0.0)
    totals["wall"] = wall
    return totals


def print_row(name: str, device: str, count: int, totals: dict[str, float]) -> None:
    per_stage = "  ".join(f"{stage} {totals[stage] / count:6.3f}" for stage in STAGES)
    print(f"{name:8} {device:5} {count:3} images  {count / totals['wall']:7.3f} images/s  s/image: {per_stage}",
          flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=12, help="timed images per CUDA row")
    parser.add_argument("--cpu-images", type=int, default=2, help="timed images in the CPU row")
    parser.add_argument("--checkpoint", type=Path, action="append", default=[], help="vit_b/l/h checkpoint files")
    parser.add_argument("--no-gro", action="store_true")
    args = parser.parse_args()
    config = RefineConfig()
    if args.no_gro:
        config = replace(config, gro=replace(GroConfig(), profile="off"))
    pairs = [(path, COCO / "stego" / path.name) for path in sorted((COCO / "image").glob("*.png"))]
    print(f"# {'--no-gro' if args.no_gro else 'full pipeline (fast GRO)'}, cocostuff27 images, torch "
          f"{torch.__version__}, {torch.get_num_threads()} CPU threads")
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        if torch.cuda.is_available():
            print(f"# CUDA: {torch.cuda.get_device_name(0)}")
            rows = [(None, "vit_t")] + [(path, path.name) for path in args.checkpoint]
            for checkpoint, name in rows:
                engine = SamEngine.load(None, checkpoint, "cuda")
                count = min(args.images, len(pairs))
                print_row(engine.model_type if checkpoint else name, "cuda", count,
                          time_row(engine, config, pairs[:count], out))
                del engine
                torch.cuda.empty_cache()
        else:
            print("no CUDA device: skipping CUDA rows (vit_t" + "".join(f", {p.name}" for p in args.checkpoint) + ")")
        engine = SamEngine.load(None, None, "cpu")
        count = min(args.cpu_images, len(pairs))
        print_row("vit_t", "cpu", count, time_row(engine, config, pairs[:count], out))


if __name__ == "__main__":
    main()

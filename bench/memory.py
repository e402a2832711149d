"""Memory benchmark: peak RSS and seconds of one refinement at 1, 4, 12 and 24 megapixels.

The first demo image and its STEGO labels are upscaled (image bilinear, labels nearest) to each
size and refined with the default pipeline, each size in its own process, so that every peak is
that size's alone (the peak includes Python, torch and the loaded model: see the ``idle MB`` column).

Usage: python bench/memory.py [--sizes 1,4,12,24] [--timeout 900]
       python bench/memory.py --child MEGAPIXELS   (one size; prints one JSON line)
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO_STEM = "coco_00"


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MB (ru_maxrss is in KB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def upscaled_demo(spec: str):
    """(image HxWx3 uint8, labels HxW int32): the demo pair resized to ``spec``: about that many
    megapixels ("24"), or exactly HxW pixels ("4000x6000", stretched)."""
    import cv2
    import numpy as np

    from uosam_core.image_io import read_image, read_labels

    image = read_image(ROOT / "resources" / "demo" / "images" / f"{DEMO_STEM}.png")
    labels, _ = read_labels(ROOT / "resources" / "demo" / "labels" / f"{DEMO_STEM}.png")
    height, width = labels.shape
    if "x" in spec:
        rows, cols = (int(part) for part in spec.split("x"))
        size = (cols, rows)  # cv2: (width, height)
    else:
        scale = (float(spec) * 1e6 / (height * width)) ** 0.5
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
    big_image = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
    big_labels = cv2.resize(labels.astype(np.int32), size, interpolation=cv2.INTER_NEAREST)
    return np.ascontiguousarray(big_image), big_labels.astype(np.int32)


def child(spec: str) -> dict:
    """Refine one upscaled demo pair in this process; returns its numbers."""
    sys.path.insert(0, str(ROOT))
    import torch

    from uosam_core.engine import SamEngine
    from uosam_core.pipeline import Refiner

    torch.set_num_threads(2)
    engine = SamEngine.load(device="cpu")
    image, labels = upscaled_demo(spec)
    idle = peak_rss_mb()
    start = time.perf_counter()
    result = Refiner(engine).refine(image, labels)
    seconds = time.perf_counter() - start
    return {"megapixels": round(labels.size / 1e6, 1), "height": int(labels.shape[0]), "width": int(labels.shape[1]),
            "seconds": round(seconds, 2), "idle_mb": round(idle), "peak_mb": round(peak_rss_mb()),
            "objects": len(result.objects), "gro_masks": 0 if result.gro is None else len(result.gro.masks),
            "changed": round(result.changed_fraction, 4),
            "stages": {stage: round(value, 2) for stage, value in result.timings.items()}}


def run_child(spec: str, timeout: float) -> dict:
    """Run :func:`child` in a fresh interpreter; a crash or a timeout is reported, not raised."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", spec]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"megapixels": spec, "error": f"timed out after {timeout:.0f} s"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"megapixels": spec, "error": f"exit {done.returncode}: {tail}"}
    return json.loads(lines[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,4,12,24,4000x6000",
                        help="comma-separated megapixels, or HxW for an exact size")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per size")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(child(args.child)), flush=True)
        return
    print("| MP | size (HxW) | seconds | peak RSS MB | idle MB (model + image) | objects | GRO masks |")
    print("|---|---|---|---|---|---|---|")
    for size in (value.strip() for value in args.sizes.split(",")):
        row = run_child(size, args.timeout)
        if "error" in row:
            print(f"| {size} | - | - | - | - | - | {row['error']} |", flush=True)
            continue
        print(f"| {row['megapixels']:g} | {row['height']}x{row['width']} | {row['seconds']:.1f} | {row['peak_mb']} | "
              f"{row['idle_mb']} | {row['objects']} | {row['gro_masks']} |", flush=True)


if __name__ == "__main__":
    main()

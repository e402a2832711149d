"""Scale benchmark: images/s of `uosam refine` with the serial executor and with Ray (1 and 2 workers).

Every run refines the same N shared cocostuff27 images into a fresh folder from a cold embedding
cache (encode included), with the same torch thread count, and the outputs are checked to be the
same bytes as the serial run. Model start-up is timed apart from the steady state: ``start s`` is
until every engine is loaded, ``images/s`` counts the refinement after that.

Usage: python bench/scale.py [--images 6] [--no-gro] [--threads 1] [--workers 1,2]
"""

from __future__ import annotations

import argparse
import hashlib
import platform
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from uosam_core.batch import run_folder  # noqa: E402
from uosam_core.config import GroConfig, RefineConfig  # noqa: E402
from uosam_core.engine import SamEngine  # noqa: E402
from uosam_core.executors import SerialExecutor  # noqa: E402
from uosam_core.pipeline import Refiner  # noqa: E402

COCO = ROOT.parent / "shared" / "data" / "cocostuff27-uss"


def _subset(root: Path, count: int) -> tuple[Path, Path]:
    images, labels = root / "images", root / "labels"
    images.mkdir(parents=True)
    labels.mkdir(parents=True)
    for path in sorted((COCO / "image").glob("*.png"))[:count]:
        (images / path.name).write_bytes(path.read_bytes())
        (labels / path.name).write_bytes((COCO / "stego" / path.name).read_bytes())
    return images, labels


def _digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.glob("*.png")):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:16]


class _Timed:
    """Wraps an executor to time its start-up apart from the jobs."""

    def __init__(self, inner) -> None:
        self.inner, self.start_s, self.run_s = inner, 0.0, 0.0

    def start(self):
        tick = time.perf_counter()
        identity = self.inner.start()
        self.start_s = time.perf_counter() - tick
        return identity

    def run(self, jobs, context, done) -> None:
        tick = time.perf_counter()
        self.inner.run(jobs, context, done)
        self.run_s = time.perf_counter() - tick

    def close(self) -> None:
        self.inner.close()


def bookkeeping_ms(root: Path, count: int = 500) -> float:
    """Driver time per image for claim + record refresh + record append + release, on ``root``'s disk."""
    from uosam_core.claims import Claims
    from uosam_core.records import RecordBook

    out = root / "bookkeeping"
    claims, book = Claims(out), RecordBook(out)
    record = {"key": "", "status": "written", "stats": {"seconds": 1.0}, "output_sha256": "0" * 64, "time": 0.0}
    tick = time.perf_counter()
    for index in range(count):
        key = f"class_{index % 50}/image_{index}"
        assert claims.try_claim(key)
        book.refresh()
        book.append(record | {"key": key, "time": time.time()})
        claims.release(key)
    book.close()
    return (time.perf_counter() - tick) / count * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=6)
    parser.add_argument("--no-gro", action="store_true", help="LRO only (cheaper; the GRO scales the same way)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process (serial and workers)")
    parser.add_argument("--workers", default="1,2", help="Ray worker counts to time")
    args = parser.parse_args()
    config = RefineConfig()
    if args.no_gro:
        config = replace(config, gro=replace(GroConfig(), profile="off"))
    torch.set_num_threads(args.threads)
    print(f"# {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads per process, "
          f"{args.images} cocostuff27 images, {'--no-gro' if args.no_gro else 'full pipeline'}")
    with tempfile.TemporaryDirectory() as folder:
        print(f"# driver bookkeeping per image (claim, read new records, append, release): "
              f"{bookkeeping_ms(Path(folder)):.2f} ms")
    print(f"{'executor':12} {'start s':>8} {'run s':>8} {'images/s':>9} {'same bytes':>11}")
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        images, labels = _subset(root, args.images)
        tick = time.perf_counter()
        engine = SamEngine.load(device="cpu")
        load_s = time.perf_counter() - tick
        timed = _Timed(SerialExecutor(Refiner(engine, config), threads=args.threads))
        run_folder(None, images, labels, root / "serial", executor=timed, config=config, progress=False)
        reference = _digest(root / "serial")
        print(f"{'serial':12} {load_s + timed.start_s:8.1f} {timed.run_s:8.1f} {args.images / timed.run_s:9.3f} "
              f"{'reference':>11}")
        del engine
        try:
            from uosam_core.ray_executor import RayExecutor, WorkerSpec
        except ImportError:
            print("ray not installed (pip install -e '.[ray]'): skipping Ray rows")
            return
        for workers in (int(part) for part in args.workers.split(",")):
            spec = WorkerSpec(config, device="cpu", threads=args.threads)
            timed = _Timed(RayExecutor(spec, workers=workers))
            out = root / f"ray{workers}"
            run_folder(None, images, labels, out, executor=timed, config=config, progress=False)
            same = "yes" if _digest(out) == reference else "NO"
            print(f"{f'ray x{workers}':12} {timed.start_s:8.1f} {timed.run_s:8.1f} {args.images / timed.run_s:9.3f} "
                  f"{same:>11}")


if __name__ == "__main__":
    main()

"""Crash/resume check: `uosam refine` killed with SIGKILL at seeded random moments, then run to the end.

Makes an uninterrupted reference run, then starts the same command on a fresh OUT ``--kills`` times,
each killed (kill -9) at a random moment while it works on an image, and finally lets one run finish.
Prints whether the outputs are byte-identical to the reference and whether every output has exactly
one complete, matching latest record.

Usage: python bench/crash_resume.py [--kills 10] [--images 4] [--seed 7] [--max-delay 12] [--full]
(--full: with the GRO)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COCO = ROOT.parent / "shared" / "data" / "cocostuff27-uss"


def _digests(folder: Path) -> dict[str, str]:
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(folder.glob("*.png"))}


def _latest_records(out: Path) -> tuple[dict[str, dict], int, int]:
    latest: dict[str, dict] = {}
    lines = torn = 0
    for path in sorted((out / ".uosam" / "records").glob("*.jsonl")):
        for line in path.read_bytes().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                torn += 1
                continue
            lines += 1
            latest[record["key"]] = record
    return latest, lines, torn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--max-delay", type=float, default=12.0, help="kill up to this many s after work starts")
    parser.add_argument("--full", action="store_true", help="full pipeline (default --no-gro, faster)")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        images, labels, cache = root / "images", root / "labels", root / "cache"
        images.mkdir()
        labels.mkdir()
        for path in sorted((COCO / "image").glob("*.png"))[: args.images]:
            (images / path.name).write_bytes(path.read_bytes())
            (labels / path.name).write_bytes((COCO / "stego" / path.name).read_bytes())

        def command(out: Path) -> list[str]:
            extra = [] if args.full else ["--no-gro"]
            return [sys.executable, "-m", "uosam_core.cli", "refine", str(images), str(labels), str(out), "--quiet",
                    "--threads", "1", "--embedding-cache", str(cache), *extra]

        tick = time.perf_counter()
        subprocess.run(command(root / "reference"), env=env, check=True, capture_output=True)
        print(f"reference run: {args.images} images in {time.perf_counter() - tick:.1f} s", flush=True)
        reference = _digests(root / "reference")
        out = root / "out"
        claims = out / ".uosam" / "claims"
        for kill in range(args.kills):
            run = subprocess.Popen(command(out), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            while run.poll() is None and not (claims.is_dir() and any(claims.glob("*.claim"))):
                time.sleep(0.02)
            delay = rng.uniform(0.0, args.max_delay)
            time.sleep(delay)
            finished = run.poll() is not None
            run.send_signal(signal.SIGKILL)
            run.wait()
            done = len(_digests(out))
            state = "(had finished) " if finished else ""
            print(f"kill {kill + 1:2}: {state}SIGKILL {delay:.2f} s after its first claim; {done} outputs so far",
                  flush=True)
        final = subprocess.run(command(out), env=env, capture_output=True, text=True)
        print(f"final run: exit {final.returncode}; {final.stdout.strip()}")
        for line in final.stderr.strip().splitlines():
            print(f"  {line}")
        outputs = _digests(out)
        latest, lines, torn = _latest_records(out)
        identical = outputs == reference
        complete = sorted(latest) == sorted(name[:-4] for name in reference) and all(
            record["status"] == "written" and record["output_sha256"] == outputs.get(record["output"])
            for record in latest.values())
        temps = [path.name for path in out.rglob("*") if path.name.endswith(".uosam-tmp")]
        print(f"outputs byte-identical to the uninterrupted run: {identical} ({len(outputs)}/{len(reference)})")
        print(f"records complete and matching: {complete} ({lines} lines, {torn} torn, {len(latest)} outputs)")
        print(f"temp files left: {len(temps)}")
        sys.exit(0 if identical and complete and not temps else 1)


if __name__ == "__main__":
    main()

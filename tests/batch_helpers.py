"""Shared helpers of the batch tests: small real data sets, folder digests, the CLI as a subprocess."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import ROOT, SHARED

COCO = SHARED / "cocostuff27-uss"


def coco_subset(root: Path, stems: list[str]) -> tuple[Path, Path]:
    """Copy the shared cocostuff27 images and STEGO labels of ``stems`` to ``root``/images, /labels."""
    images, labels = root / "images", root / "labels"
    images.mkdir(parents=True, exist_ok=True)
    labels.mkdir(parents=True, exist_ok=True)
    for stem in stems:
        shutil.copy(COCO / "image" / f"{stem}.png", images / f"{stem}.png")
        shutil.copy(COCO / "stego" / f"{stem}.png", labels / f"{stem}.png")
    return images, labels


def png_digests(folder: Path) -> dict[str, str]:
    """sha256 of every visible .png under ``folder``, by relative path."""
    return {path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*.png")) if not any(part.startswith(".") for part in
                                                                   path.relative_to(folder).parts)}


def record_lines(out: Path) -> list[dict]:
    """Every complete record line under OUT/.uosam/records."""
    lines = []
    for path in sorted((out / ".uosam" / "records").glob("*.jsonl")):
        for line in path.read_bytes().splitlines():
            try:
                lines.append(json.loads(line))
            except ValueError:
                continue
    return lines


def cli_command(*args: str) -> list[str]:
    """The ``uosam`` command line run by this Python."""
    return [sys.executable, "-m", "uosam_core.cli", *args]


def start_cli(*args: str, **kwargs) -> subprocess.Popen:
    """Start ``uosam ARGS`` as a real subprocess (stdout/stderr captured)."""
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    return subprocess.Popen(cli_command(*args), cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, **kwargs)

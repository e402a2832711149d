"""Shared fixtures: the real MobileSAM engine (loaded once) and the real demo / shared data."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest
import torch

from uosam_core.engine import SamEngine
from uosam_core.image_io import read_image, read_labels

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "resources" / "demo"
SHARED = ROOT.parent / "shared" / "data"

# A suite started in the background (`cmd &` in a script) inherits SIGINT as ignored, and every process
# it starts would too: the CLI's Ctrl-C tests would then see no interrupt. Python's own handler here
# gives the children SIGINT's default again (a handler is reset at exec, an ignored signal is not).
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # GUI tests drive the real window headless


@pytest.fixture(scope="session")
def engine() -> SamEngine:
    torch.set_num_threads(2)
    return SamEngine.load(device="cpu")


@pytest.fixture(scope="session")
def demo_stems() -> list[str]:
    return sorted(path.stem for path in (DEMO / "images").glob("*.png"))


def load_demo(stem: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(image, STEGO baseline, ground truth) of one demo image."""
    image = read_image(DEMO / "images" / f"{stem}.png")
    baseline, _ = read_labels(DEMO / "labels" / f"{stem}.png")
    truth, _ = read_labels(DEMO / "ground_truth" / f"{stem}.png")
    return image, baseline, truth


@pytest.fixture(scope="session")
def demo_image(demo_stems):
    return load_demo(demo_stems[0])

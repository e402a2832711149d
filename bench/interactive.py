"""Interactive latency: moving a prompt point until the object's new mask is shown.

1. core: ``redecode_object`` + ``Refiner.recompose`` per move (cached embedding), every object of
   the three demo images;
2. window: the real uosam-gui window offscreen; time from dropping the positive point to the end of
   the window's update (mask, overlay, table redrawn), while the next image is refined ahead in the
   background and when the worker is idle;
3. reopen: a session whose results are stored (``OUT/.uosam/results``) opened again in a new window;
   time from asking for a stored image (not in the window's memory) to its document on screen, for
   512-px VOC images (target <= 300 ms), and the first image of the reopen including the model load.

Usage: QT_QPA_PLATFORM=offscreen python bench/interactive.py [--moves 8] [--only-reopen]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from uosam_core.engine import SamEngine  # noqa: E402
from uosam_core.image_io import read_image, read_labels  # noqa: E402
from uosam_core.lro import redecode_object  # noqa: E402
from uosam_core.pipeline import Refiner  # noqa: E402
from uosam_core.result import ObjectPrompts  # noqa: E402

DEMO = ROOT / "resources" / "demo"


def random_point(mask: np.ndarray, rng: np.random.Generator) -> tuple[float, float]:
    rows, cols = np.nonzero(mask)
    pick = rng.integers(len(rows))
    return float(cols[pick]) + 0.5, float(rows[pick]) + 0.5


def summary(samples: list[float]) -> str:
    ms = 1000 * np.asarray(samples)
    return (f"n={len(ms)}  median {np.median(ms):.0f} ms  mean {ms.mean():.0f} ms  p90 {np.percentile(ms, 90):.0f} ms"
            f"  max {ms.max():.0f} ms  <=300 ms: {100 * (ms <= 300).mean():.0f}%")


def core_latency(moves: int) -> list[float]:
    engine = SamEngine.load(device="cpu")
    refiner = Refiner(engine)
    rng = np.random.default_rng(0)
    samples = []
    for image_path in sorted((DEMO / "images").glob("*.png")):
        image = read_image(image_path)
        baseline, _ = read_labels(DEMO / "labels" / image_path.name)
        result = refiner.refine(image, baseline)
        for index, obj in enumerate(result.objects):
            for _ in range(moves):
                prompts = ObjectPrompts([random_point(obj.baseline_mask, rng)], obj.prompts.negative, obj.prompts.box)
                start = time.perf_counter()
                embedding = engine.encode(image)
                result.objects[index] = redecode_object(engine, embedding, obj, prompts, refiner.config.lro)
                refiner.recompose(result)
                samples.append(time.perf_counter() - start)
    return samples


def window_latency(moves: int) -> tuple[list[float], list[float]]:
    from PySide6.QtCore import QEventLoop, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from uosam_gui.controller import RefineController
    from uosam_gui.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    scratch = Path(tempfile.mkdtemp(prefix="uosam-bench-"))
    window = MainWindow(RefineController(device="cpu"), QSettings(str(scratch / "s.ini"), QSettings.Format.IniFormat))
    window.show()
    finished: list[float] = []
    window.controller.redecoded.connect(lambda *_: finished.append(time.perf_counter()))

    def wait(condition, seconds: float = 300) -> None:
        """Run the event loop (idle, GIL released) until ``condition`` holds. The loop wakes on the
        worker's answer itself; a 1 ms poll timer would take the GIL a thousand times a second from the
        worker's decode (+15-20 ms per move measured), which a user's idle window does not do."""
        deadline = time.perf_counter() + seconds
        loop = QEventLoop()
        poll = QTimer(interval=50)
        poll.timeout.connect(lambda: condition() and loop.quit())
        window.controller.redecoded.connect(loop.quit)
        poll.start()
        while not condition():
            loop.exec()
            if time.perf_counter() > deadline:
                raise TimeoutError("no answer from the worker")
        poll.stop()
        window.controller.redecoded.disconnect(loop.quit)

    window.open_dataset(DEMO / "images", DEMO / "labels", scratch / "out")
    wait(lambda: window.document is not None)
    rng = np.random.default_rng(1)
    busy, idle, worker_ms, repaint_ms = [], [], [], []
    document = window.document
    for round_number in range(2 * moves):
        if round_number == moves:
            wait(lambda: not window.controller.busy)  # the look-ahead refinement is done
        index = round_number % len(document.objects)
        window.object_panel.select(index)
        item = next(item for item, positive in window.canvas.point_items if positive)
        was_busy = window.controller.busy
        before = len(finished)
        start = time.perf_counter()
        item.setPos(*random_point(document.objects[index].baseline_mask, rng))
        item.sigPositionChangeFinished.emit(item)
        wait(lambda before=before: len(finished) > before)
        updated = time.perf_counter()
        app.processEvents()  # the repaint
        (busy if was_busy else idle).append(time.perf_counter() - start)
        worker_ms.append(1000 * window.controller.last_redecode_seconds)
        repaint_ms.append(1000 * (time.perf_counter() - updated))
    window.close()
    print(f"window parts: decode in the worker median {np.median(worker_ms):.0f} ms, "
          f"repaint median {np.median(repaint_ms):.0f} ms")
    return busy, idle


def reopen_latency(repeats: int) -> tuple[float, list[float]]:
    """(seconds to the first image of a reopened session, model load included; seconds to show a stored
    image that is not in the window's memory, ``repeats`` times) on three 513x513 VOC images."""
    import shutil

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from uosam_gui.controller import RefineController
    from uosam_gui.main_window import MainWindow
    from uosam_gui.session import Session

    app = QApplication.instance() or QApplication([])
    voc = ROOT.parent / "shared" / "data" / "voc12-val14"
    scratch = Path(tempfile.mkdtemp(prefix="uosam-bench-reopen-"))
    images, labels, out = scratch / "images", scratch / "labels", scratch / "out"
    images.mkdir(), labels.mkdir()
    names = sorted(path.name for path in (voc / "image").glob("*.png"))[:3]
    for name in names:
        shutil.copy(voc / "image" / name, images / name)
        shutil.copy(voc / "coarse16" / name, labels / name)
    session = Session.open(images, labels, out)
    refiner = Refiner(SamEngine.load(device="cpu"))
    for key in session.keys():  # the first session: every image refined (and stored) once
        session.open_document(key, refiner)
    session.save()

    def wait(condition, seconds: float = 300) -> None:
        deadline = time.perf_counter() + seconds
        while not condition():
            app.processEvents()
            time.sleep(0.001)
            if time.perf_counter() > deadline:
                raise TimeoutError("no document")

    window = MainWindow(RefineController(device="cpu"), QSettings(str(scratch / "s.ini"), QSettings.Format.IniFormat))
    window.show()
    start = time.perf_counter()
    window.open_dataset(images, labels, out)
    wait(lambda: window.document is not None)
    app.processEvents()
    first = time.perf_counter() - start
    wait(lambda: not window.controller.busy)
    keys, samples = session.keys(), []
    for round_number in range(repeats):
        key = keys[1 + round_number % 2]
        window.controller.documents.pop(key, None)  # not in memory: read from the store
        start = time.perf_counter()
        window.reviewer.show_image(key)
        wait(lambda key=key: window.document is not None and window.document.key == key)
        app.processEvents()  # the repaint
        samples.append(time.perf_counter() - start)
        wait(lambda: not window.controller.busy)
    window.close()
    shutil.rmtree(scratch, ignore_errors=True)
    return first, samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=8, help="moves per object (core) / per scenario (window)")
    parser.add_argument("--only-reopen", action="store_true", help="measure only the reopen of stored results")
    parser.add_argument("--only-core", action="store_true", help="measure only the core re-decode + recompose")
    parser.add_argument("--reopens", type=int, default=10, help="stored images shown in the reopen measurement")
    args = parser.parse_args()
    torch.set_num_threads(2)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, MobileSAM, CPU")
    if args.only_core:
        print(f"core   redecode + recompose: {summary(core_latency(args.moves))}")
        return
    first, shown = reopen_latency(args.reopens)
    print(f"reopen, first image (model load included): {1000 * first:.0f} ms")
    print(f"reopen, show a stored 513x513 image:       {summary(shown)}")
    if args.only_reopen:
        return
    print(f"core   redecode + recompose: {summary(core_latency(args.moves))}")
    busy, idle = window_latency(args.moves)
    if busy:
        print(f"window while refining ahead: {summary(busy)}")
    print(f"window, worker idle:         {summary(idle)}")


if __name__ == "__main__":
    main()

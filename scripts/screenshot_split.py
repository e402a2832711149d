"""Screenshot of the split view (baseline | final) on the demo, driven by real key events (for docs/).

Run under a display: ``xvfb-run -s "-screen 0 1600x1000x24" .venv/bin/python scripts/screenshot_split.py``
(or headless with ``QT_QPA_PLATFORM=offscreen``). Refines the demo with the default settings, walks to
the first object whose baseline was kept (J), turns the split view on (S), drags the divider and
writes docs/screenshot-split.png.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if os.environ.get("DISPLAY") and "QT_QPA_PLATFORM" not in os.environ:
    os.environ["QT_QPA_PLATFORM"] = "xcb"  # the real X server (the test helpers default to offscreen)
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from PySide6.QtCore import QSettings, Qt  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402


def wait(app: QApplication, condition, seconds: float = 900) -> None:
    """Run the event loop until ``condition`` holds."""
    deadline = time.monotonic() + seconds
    while not condition():
        app.processEvents()
        QTest.qWait(50)
        if time.monotonic() > deadline:
            raise TimeoutError("the demo did not refine in time")


def main(key_name: str = "coco_00", target: Path = ROOT / "docs" / "screenshot-split.png") -> int:
    from review_aids_helpers import drag, key

    from uosam_core.atomic import atomic_path
    from uosam_gui.controller import RefineController
    from uosam_gui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    scratch = Path(tempfile.mkdtemp(prefix="uosam-split-"))
    window = MainWindow(RefineController(device="cpu"), QSettings(str(scratch / "s.ini"), QSettings.Format.IniFormat))
    window.resize(1500, 900)
    window.show()
    window.activateWindow()
    demo = ROOT / "resources" / "demo"
    window.open_dataset(demo / "images", demo / "labels", scratch / "out")
    wait(app, lambda: window.document is not None and window.document.key == key_name)
    document = window.document
    kept = next((o.index for o in document.objects if not o.uses_refined), 0)
    while window.selected < kept:
        key(window, Qt.Key.Key_J)
    key(window, Qt.Key.Key_S)
    split = window.review_keys.split
    height, width = document.image.shape[:2]
    drag(window, [(split.position, height * 0.6), (split.position - 5, height * 0.6), (width * 0.45, height * 0.6)])
    QTest.mouseMove(window.canvas.viewport(), window.canvas.viewport().rect().bottomRight())  # off the divider
    QTest.qWait(300)
    app.processEvents()
    with atomic_path(target) as temporary:
        if not window.grab().save(str(temporary), "PNG"):
            raise OSError(f"could not write {target}")
    print(f"wrote {target}")
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

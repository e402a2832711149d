"""Screenshots of uosam-gui on the demo, driven by real mouse and key events (for docs/).

Run under a display (e.g. ``xvfb-run -s "-screen 0 1600x1000x24" .venv/bin/python scripts/gui_screenshots.py``):
refines the demo, clicks the largest refined object, adds a positive point inside its box
(docs/screenshot.png), then presses N (docs/screenshot-issue8-next.png).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if os.environ.get("DISPLAY"):
    os.environ["QT_QPA_PLATFORM"] = "xcb"  # the real X server (the test helpers default to offscreen)
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from PySide6.QtCore import QSettings, Qt, QTimer  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402


def wait(app: QApplication, condition, seconds: float = 600) -> None:
    """Run the event loop until ``condition`` holds."""
    import time

    deadline = time.monotonic() + seconds
    while not condition():
        app.processEvents()
        QTest.qWait(50)
        if time.monotonic() > deadline:
            raise TimeoutError("the demo did not refine in time")


def main() -> int:
    from test_gui_review import click, deep_point, interior_point, key

    from uosam_gui.controller import RefineController
    from uosam_gui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    scratch = Path(tempfile.mkdtemp(prefix="uosam-shots-"))
    window = MainWindow(RefineController(device="cpu"), QSettings(str(scratch / "s.ini"), QSettings.Format.IniFormat))
    window.resize(1500, 900)
    window.show()
    window.activateWindow()
    demo = ROOT / "resources" / "demo"
    window.open_dataset(demo / "images", demo / "labels", scratch / "out")
    wait(app, lambda: window.document is not None and "coco_03" in window.controller.documents)
    document = window.document
    index = max((o for o in document.objects if o.uses_refined), key=lambda o: o.area).index
    click(window, *deep_point(document.objects[index].step2_mask))
    wait(app, lambda: window.selected == index)
    obj = document.objects[index]
    inside = interior_point(window, [*obj.prompts.positive, *obj.prompts.negative])
    done = []
    window.controller.redecoded.connect(lambda *_: done.append(1))
    click(window, *inside)
    wait(app, lambda: bool(done))
    QTest.qWait(300)
    window.grab().save(str(ROOT / "docs" / "screenshot.png"))
    key(window, Qt.Key.Key_N)
    QTest.qWait(300)
    window.grab().save(str(ROOT / "docs" / "screenshot-issue8-next.png"))
    print("wrote docs/screenshot.png and docs/screenshot-issue8-next.png")
    QTimer.singleShot(0, window.close)
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The ground-truth screenshot for the README (docs/screenshot-gt.png), from the real window.

``QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshot_gt.py [OUT.png]``: opens the shared
VOC set (images, the coarse16 baseline, ../shared/data/voc12-val14/label as ground truth, the VOC
class names), refines the first three images (no GRO, as a quick look), accepts the first object the
automatic verdict kept at its baseline, sorts the list by "most improved first" and saves the window.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

ROOT = Path(__file__).resolve().parent.parent
VOC = ROOT.parent / "shared" / "data" / "voc12-val14"


def wait(app: QApplication, condition, seconds: float = 600) -> None:
    """Run the event loop until ``condition`` holds."""
    deadline = time.monotonic() + seconds
    while not condition():
        app.processEvents()
        QTest.qWait(50)
        if time.monotonic() > deadline:
            raise TimeoutError("not refined in time")


def main() -> int:
    from uosam_core.atomic import atomic_path
    from uosam_core.config import GroConfig, RefineConfig
    from uosam_gui.controller import RefineController
    from uosam_gui.gt_scores import GtSort
    from uosam_gui.main_window import MainWindow

    target = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshot-gt.png"
    app = QApplication.instance() or QApplication(sys.argv[:1])
    scratch = Path(tempfile.mkdtemp(prefix="uosam-gt-shot-"))
    controller = RefineController(device="cpu", config=RefineConfig(gro=GroConfig(profile="off")))
    window = MainWindow(controller, QSettings(str(scratch / "s.ini"), QSettings.Format.IniFormat))
    window.resize(1500, 900)
    window.show()
    try:
        window.open_dataset(VOC / "image", VOC / "coarse16", scratch / "out",
                            classes_file=ROOT / "resources" / "classes" / "voc21.txt")
        window.gt.open(VOC / "label")
        for step in range(3):
            wait(app, lambda: window.document is not None)
            kept = [obj.index for obj in window.document.objects if not obj.uses_refined]
            if step == 0 and kept:
                window.object_panel.select(kept[0])
                window.editor.decide("accept")
            if step < 2:
                window.reviewer.step_image(1)
        wait(app, lambda: not window.gt.busy and not controller.busy)
        window.reviewer.autosave()
        wait(app, lambda: not window.gt.busy)
        window.file_panel.sort_combo.setCurrentText(GtSort.MOST_IMPROVED.value)
        app.processEvents()
        target.parent.mkdir(parents=True, exist_ok=True)
        print(window.gt.status_label.text())
        with atomic_path(target) as temporary:
            saved = window.grab().save(str(temporary), "PNG")
        return 0 if saved else 1
    finally:
        controller.shutdown()


if __name__ == "__main__":
    sys.exit(main())

"""Issue 11 item 4: a keyboard-only review of the demo through the real window (offscreen, real
MobileSAM, key events): select, next object, accept and go on, next image, save; the verdict's
reason in the object table; zoom to the object; the help page."""

from __future__ import annotations

import json

import numpy as np
from conftest import DEMO
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from review_aids_helpers import REFINE_TIMEOUT_MS, key, make_window

from uosam_core.image_io import read_labels
from uosam_core.verdicts import explain
from uosam_gui.keyboard_review import object_box
from uosam_gui.object_panel import WHY_COLUMN

SHIFT = Qt.KeyboardModifier.ShiftModifier


def test_keyboard_only_review_of_the_demo_writes_the_decided_labels(qtbot, tmp_path, engine):
    window = make_window(qtbot, tmp_path, engine)
    out = tmp_path / "out"
    assert window.open_dataset(DEMO / "images", DEMO / "labels", out)
    qtbot.waitUntil(lambda: window.document is not None, timeout=REFINE_TIMEOUT_MS)
    first = window.document
    assert first.key == "coco_00" and window.selected == -1
    risk = window.review_keys.risk_label  # the core's risk figure and its largest change records
    assert risk.text() == f"risk {100 * first.result.risk:.2f}%"
    assert first.result.changes[0].describe() in risk.toolTip()

    # the table says why each object uses its refined mask or keeps its baseline (cell and tooltip)
    config = window.review_keys.lro_config()
    table = window.object_panel.table
    for row, obj in enumerate(first.objects):
        why = explain(obj, config).text
        assert table.item(row, WHY_COLUMN).text() == why and table.item(row, 1).toolTip() == why
    kept = [obj.index for obj in first.objects if not obj.uses_refined]
    assert kept and 0 < kept[0] < len(first.objects) - 1, "the demo's first image has an auto-rejected object"
    target = kept[0]
    assert table.item(target, WHY_COLUMN).text().startswith("kept baseline: ")

    # J selects the first object, then walks on; the canvas shows the selected object's prompts
    key(window, Qt.Key.Key_J)
    assert window.selected == 0 and window.canvas.prompts == first.objects[0].prompts
    while window.selected < target:
        key(window, Qt.Key.Key_J)
    assert window.selected == target and window.object_panel.selected_index() == target
    assert window.object_panel.why_label.text() == f"why: {explain(first.objects[target], config).text}"
    key(window, Qt.Key.Key_K)
    assert window.selected == target - 1
    # with the object table focused (after a click on a row) the same keys walk on
    rect = table.visualItemRect(table.item(target - 1, 1))
    QTest.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, rect.center())
    QTest.keyClick(table, Qt.Key.Key_J)
    assert window.selected == target and table.hasFocus()

    # Shift+A accepts the auto-rejected object and moves on to the next object
    before = first.labels.copy()
    key(window, Qt.Key.Key_A, SHIFT)
    assert first.objects[target].decision == "accept" and first.objects[target].uses_refined
    assert window.document is first and window.selected == target + 1
    assert table.item(target, WHY_COLUMN).text().startswith("accepted by you (automatic: kept baseline")
    assert not np.array_equal(first.labels, before), "accepting the object changed no pixel"
    assert risk.text() == f"risk {100 * first.result.risk:.2f}%"  # recomputed by the core, shown again

    # Ctrl+S writes the shown image's labels: the accepted object's pixels are in the file
    key(window, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    saved, _ = read_labels(out / "coco_00.png")
    assert np.array_equal(saved, first.labels)

    # J past the last object opens the next image and selects its first object once it is shown
    while window.document is first:
        key(window, Qt.Key.Key_J)
    qtbot.waitUntil(lambda: window.document is not None and window.document.key == "coco_03"
                    and window.selected == 0, timeout=REFINE_TIMEOUT_MS)
    second = window.document
    assert window.object_panel.selected_index() == 0
    key(window, Qt.Key.Key_R, SHIFT)  # reject and go on
    assert second.objects[0].decision == "reject" and window.selected == 1

    # Z zooms to the object with the smallest box (the view shows its box, not the whole image);
    # J keeps the zoom on the selected object; Z again fits the whole image
    height, width = second.image.shape[:2]
    boxes = [object_box(obj, (height, width)) for obj in second.objects]
    small = min(range(1, len(boxes)), key=lambda i: boxes[i].width() * boxes[i].height())
    while window.selected < small:
        key(window, Qt.Key.Key_J)
    key(window, Qt.Key.Key_Z)
    (vx0, vx1), (vy0, vy1) = window.canvas.view.viewRange()
    box = boxes[small]
    assert vx0 <= box.left() + 1 and vx1 >= box.right() - 1 and vy0 <= box.top() + 1 and vy1 >= box.bottom() - 1
    assert min((vx1 - vx0) / box.width(), (vy1 - vy0) / box.height()) < 1.1  # tight on one side
    assert (vy1 - vy0) < 0.8 * height
    key(window, Qt.Key.Key_K)
    (vx0, vx1), (vy0, vy1) = window.canvas.view.viewRange()
    box = boxes[small - 1]
    assert vx0 <= box.left() + 1 and vx1 >= box.right() - 1 and vy0 <= box.top() + 1 and vy1 >= box.bottom() - 1
    key(window, Qt.Key.Key_Z)
    (vx0, vx1), (vy0, vy1) = window.canvas.view.viewRange()
    assert vx1 - vx0 >= width and vy1 - vy0 >= height
    key(window, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    saved, _ = read_labels(out / "coco_03.png")
    assert np.array_equal(saved, second.labels)
    baseline, _ = read_labels(DEMO / "labels" / "coco_03.png")
    rejected = second.objects[0].baseline_mask & ~np.any(
        [o.step2_mask for o in second.objects[1:] if o.uses_refined], axis=0)
    assert np.array_equal(saved[rejected], baseline[rejected])  # the rejected object kept its baseline pixels

    # the session file holds both decisions (a reopened session resumes them)
    window.reviewer.autosave()
    records = json.loads((out / "uosam-session.json").read_text())
    text = json.dumps(records)
    assert '"decision": "accept"' in text and '"decision": "reject"' in text

    # F1: the help page starts with first steps, then lists the keys of the keyboard review
    help_menu = next(a.menu() for a in window.menuBar().actions() if a.menu() and "Help" in a.menu().title())
    assert "Getting started" in [action.text() for action in help_menu.actions()]
    key(window, Qt.Key.Key_F1)
    page = window.help_dialog.findChild(type(window.help_dialog.children()[-1]), "help_browser").toPlainText()
    assert page.index("First steps") < page.index("Keyboard shortcuts")
    for words in ("Open", "Save", "Export", "J / K", "Shift+A / Shift+R", "Edit prompts"):
        assert words in page
    window.help_dialog.close()


def test_z_zooms_to_a_scattered_class_object_not_to_its_fragments(qtbot, tmp_path, engine):
    """User trial: Z showed the whole image for an object whose class has small fragments all over
    the image (the baseline's box spans it). The view must show the object the tool refined: its
    refined mask and its prompt box (the largest component), with a margin."""
    window = make_window(qtbot, tmp_path, engine)
    assert window.open_dataset(DEMO / "images", DEMO / "labels", tmp_path / "out")
    qtbot.waitUntil(lambda: window.document is not None, timeout=REFINE_TIMEOUT_MS)
    while window.document.key != "coco_03":
        key(window, Qt.Key.Key_N)
        qtbot.waitUntil(lambda: window.document is not None and window.document.result is not None,
                        timeout=REFINE_TIMEOUT_MS)
    document = window.document
    height, width = document.image.shape[:2]

    def box_area(mask) -> int:
        rows, cols = np.nonzero(mask)
        return int((rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1))

    scattered = [i for i, obj in enumerate(document.objects)
                 if box_area(obj.baseline_mask) > 10 * box_area(obj.step2_mask)]
    assert scattered, "coco_03 has a class scattered over the image (small fragments far from its object)"
    index = scattered[0]
    key(window, Qt.Key.Key_J)
    while window.selected != index:
        key(window, Qt.Key.Key_J)
    key(window, Qt.Key.Key_Z)
    (vx0, vx1), (vy0, vy1) = window.canvas.view.viewRange()
    rows, cols = np.nonzero(document.objects[index].step2_mask)
    assert vx0 <= cols.min() and vx1 >= cols.max() + 1 and vy0 <= rows.min() and vy1 >= rows.max() + 1
    assert (vx1 - vx0) * (vy1 - vy0) < 0.25 * width * height, "Z still shows (nearly) the whole image"

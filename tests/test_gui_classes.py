"""Issue 11 item 7: class names and colours. Distinct generated colours for up to 256 classes, the data
set's own palette, class files in three formats (classes.json, a txt list, a palette label PNG) loaded
from the app's menu and the command line, per-class show / hide in the legend, and VOC's black
background drawn transparent. Real files, the real window (offscreen); nothing is refined (Esc)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import DEMO, ROOT, SHARED
from PySide6.QtCore import QPoint, QSettings, Qt
from PySide6.QtTest import QTest

from uosam_core.image_io import InputError, read_labels
from uosam_gui import app
from uosam_gui.classes import ClassTable, generated_palette, lab_colors, read_class_file, voc_palette
from uosam_gui.controller import RefineController
from uosam_gui.main_window import MainWindow

VOC = SHARED / "voc12-val14"
VOC_NAMES = ROOT / "resources" / "classes" / "voc21.txt"
VOC_LABEL = VOC / "label" / "2007_000033.png"


def min_distance(colors: np.ndarray) -> float:
    """Smallest CIE76 delta E between two of the colours (Kx3 uint8)."""
    lab = lab_colors(colors)
    distance = np.linalg.norm(lab[:, None] - lab[None], axis=-1)
    np.fill_diagonal(distance, np.inf)
    return float(distance.min())


def test_generated_palette_is_distinct_for_coco_and_for_256_classes():
    palette = generated_palette()
    assert palette.shape == (256, 3) and palette.dtype == np.uint8
    assert min_distance(palette[:27]) > 30  # COCO-Stuff-27: no two alike
    assert min_distance(palette) > 10  # every one of 256 still tells apart
    assert min_distance(voc_palette()[:27]) < 10  # the old generated palette: near-identical greens
    lightness = lab_colors(palette)[:, 0]
    assert lightness.min() > 20 and lightness.max() < 95  # none vanishes as black or white on a photo


@pytest.mark.skipif(not VOC.is_dir(), reason="shared VOC data not found")
def test_class_files_in_three_formats_and_bad_ones(tmp_path):
    names = read_class_file(VOC_NAMES)
    assert names.num_classes == 21 and names.names[0] == "background" and names.names[20] == "tvmonitor"
    coco = read_class_file(DEMO / "classes.json")
    assert coco.num_classes == 27 and coco.ignore_index == 255 and coco.colors.shape == (27, 3)
    palette = read_class_file(VOC_LABEL)
    assert palette.names is None and np.array_equal(palette.colors[:22], voc_palette()[:22])
    assert np.array_equal(palette.colors, np.asarray(read_labels(VOC_LABEL)[1].palette, np.uint8).reshape(-1, 3))
    (tmp_path / "empty.txt").write_text("\n\n")
    (tmp_path / "bad.json").write_text(json.dumps({"names": ["a"], "palette": [[0, 0, 300]]}))
    (tmp_path / "classes.yaml").write_text("names: [a]")
    for bad, problem in ((DEMO / "images" / "coco_00.png", "not a palette-mode PNG"),
                         (tmp_path / "empty.txt", "no class names"), (tmp_path / "bad.json", "0..255"),
                         (tmp_path / "classes.yaml", ".json, .txt"), (tmp_path / "missing.txt", "not found")):
        with pytest.raises(InputError, match=problem) as raised:
            read_class_file(bad)
        assert str(bad) in str(raised.value) and "\n" not in str(raised.value)
    # the command line refuses a bad --classes before any window opens, in one line
    assert app.main([str(VOC / "image"), str(VOC / "coarse16"), "--classes", str(tmp_path / "empty.txt")]) == 2


# ---------------------------------------------------------------------------------------- window
def overlay_alpha(window: MainWindow, mask: np.ndarray) -> np.ndarray:
    """Alpha values of the overlay drawn on the canvas at the pixels of ``mask`` (full resolution)."""
    rgba = window.canvas.overlay_item.image
    assert rgba is not None and rgba.shape[:2] == mask.shape  # a 513x513 image is drawn at full size
    return rgba[..., 3][mask]


def legend_item(window: MainWindow, class_id: int):
    item = window.legend.item_of(class_id)
    assert item is not None, f"class {class_id} not in the legend"
    return item


def click_checkbox(qtbot, window: MainWindow, class_id: int) -> None:
    """A real click on the check box at the left of a legend line."""
    rect = window.legend.visualItemRect(legend_item(window, class_id))
    before = legend_item(window, class_id).checkState()
    QTest.mouseClick(window.legend.viewport(), Qt.MouseButton.LeftButton,
                     pos=QPoint(rect.left() + 10, rect.center().y()))
    qtbot.waitUntil(lambda: legend_item(window, class_id).checkState() != before, timeout=5_000)


@pytest.mark.skipif(not VOC.is_dir(), reason="shared VOC data not found")
def test_voc_palette_background_transparent_legend_checkboxes_and_loading_classes(qtbot, tmp_path):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(RefineController(device="cpu"), settings)
    qtbot.addWidget(window)
    window.resize(1500, 900)
    window.show()
    qtbot.waitExposed(window)
    assert window.open_dataset(VOC / "image", VOC / "coarse16", tmp_path / "out")
    QTest.keyClick(window, Qt.Key.Key_Escape)  # stop refining: the photo and its baseline stay shown
    baseline = read_labels(VOC / "coarse16" / "2007_000033.png")[0]
    qtbot.waitUntil(lambda: window.canvas.overlay_item.image is not None and window.legend.count() == 2, timeout=10_000)

    # the data set's own palette (VOC's), background 0 (black there) transparent, the plane drawn
    classes = window.classes
    assert np.array_equal(classes.colors[:21], voc_palette()[:21]) and 0 in classes.hidden
    assert (overlay_alpha(window, baseline == 0) == 0).all() and (overlay_alpha(window, baseline == 1) == 255).all()
    assert legend_item(window, 0).checkState() == Qt.CheckState.Unchecked
    assert legend_item(window, 1).checkState() == Qt.CheckState.Checked

    # show the background by its checkbox, hide the plane, then back
    click_checkbox(qtbot, window, 0)
    qtbot.waitUntil(lambda: (overlay_alpha(window, baseline == 0) == 255).all(), timeout=5_000)
    click_checkbox(qtbot, window, 1)
    qtbot.waitUntil(lambda: (overlay_alpha(window, baseline == 1) == 0).all(), timeout=5_000)
    assert 1 in window.classes.hidden and 0 not in window.classes.hidden
    click_checkbox(qtbot, window, 0)
    click_checkbox(qtbot, window, 1)
    qtbot.waitUntil(lambda: (overlay_alpha(window, baseline == 1) == 255).all(), timeout=5_000)
    assert (overlay_alpha(window, baseline == 0) == 0).all()

    # File > Load classes...: a txt list of names, then a classes.json (names + palette), then a palette PNG
    assert window.legend.item_of(1).text().startswith("1  ")  # no names yet
    for chosen, name_of_1, color_of_1 in ((VOC_NAMES, "aeroplane", voc_palette()[1]),
                                          (DEMO / "classes.json", "appliance", None),
                                          (VOC_LABEL, "appliance", voc_palette()[1])):
        window.class_loader.ask_file = lambda chosen=chosen: chosen
        window.menu_actions.load_classes.trigger()
        qtbot.waitUntil(lambda name=name_of_1: window.legend.item_of(1).text().startswith(f"1 {name}"),
                        timeout=5_000)
        combo = window.object_panel.class_combo
        assert combo.itemText(combo.findData(1)) == f"1 {name_of_1}"
        expected = color_of_1 if color_of_1 is not None else np.asarray(
            json.loads((DEMO / "classes.json").read_text())["palette"][1], np.uint8)
        assert np.array_equal(window.classes.colors[1], expected)
        shown = window.canvas.overlay_item.image[baseline == 1][0, :3]
        assert np.array_equal(shown, expected)  # the overlay uses the loaded colours at once
        assert any(str(chosen) in message for message in window.messages)
    assert window.classes.num_classes == 27  # the palette PNG kept the names and count of the json
    # a bad file: one line, the table stays
    before = window.classes
    window.class_loader.ask_file = lambda: DEMO / "images" / "coco_00.png"
    window.menu_actions.load_classes.trigger()
    assert window.classes is before and "not a palette-mode PNG" in window.messages[-1]


def test_discover_uses_the_label_palette_then_a_classes_file():
    own = voc_palette()[:3].ravel().tolist()
    table = ClassTable.discover(None, label_palette=own)
    assert np.array_equal(table.colors[:3], voc_palette()[:3]) and np.array_equal(table.colors[3:],
                                                                                  generated_palette()[3:])
    assert table.hidden == frozenset({0, 255})  # black background and the ignore id start hidden
    named = ClassTable.discover(DEMO / "labels")  # classes.json beside the labels
    assert named.names[0] == "electronic" and named.num_classes == 27 and named.hidden == frozenset({255})


@pytest.mark.skipif(not VOC.is_dir(), reason="shared VOC data not found")
def test_classes_option_takes_each_format_over_the_label_palette():
    """What ``uosam-gui --classes FILE`` gives the window (Reviewer.open_dataset -> ClassTable.discover)."""
    own = read_labels(VOC / "coarse16" / "2007_000033.png")[1].palette
    named = ClassTable.discover(VOC / "coarse16", classes_file=VOC_NAMES, label_palette=own)
    assert named.name(15) == "15 person" and named.num_classes == 21 and named.hidden == frozenset({0, 255})
    assert np.array_equal(named.colors[:21], voc_palette()[:21])  # names from the list, colours the data set's
    coco = ClassTable.discover(VOC / "coarse16", classes_file=DEMO / "classes.json", label_palette=own)
    assert coco.name(7) == "7 animal" and tuple(coco.colors[0]) != (0, 0, 0) and 0 not in coco.hidden
    colours = ClassTable.discover(DEMO / "labels", classes_file=VOC_LABEL)  # a palette PNG over a classes.json
    assert colours.names is None and np.array_equal(colours.colors[:21], voc_palette()[:21])


def test_the_bundled_cocostuff27_names_are_the_data_sets_order():
    """User trial: cocostuff27 classes showed as bare ids; the bundled list gives their names, in the
    order of the shared data's README (COCO-Stuff-27)."""
    names = read_class_file(ROOT / "resources" / "classes" / "cocostuff27.txt").names
    readme = (SHARED / "README.md").read_text() if (SHARED / "README.md").is_file() else ""
    assert len(names) == 27 and names[0] == "electronic" and names[9] == "person" and names[26] == "water"
    if readme:
        listed = readme.split("- Classes (COCO-Stuff-27 order): ", 1)[1].split(".\n", 1)[0]
        assert [name.strip() for name in " ".join(listed.split()).split(",")] == list(names)

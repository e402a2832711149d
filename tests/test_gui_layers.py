"""Layer rendering (pure functions on small arrays), the review state's signals, and that the canvas
follows the state without recomputing what did not change (no model needed)."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QSettings

from uosam_core.masks import CompactMask, MaskStack
from uosam_gui import layers
from uosam_gui.classes import ClassTable, generated_palette
from uosam_gui.recent import RecentList, as_list
from uosam_gui.review_state import Heatmap, Overlay, ReviewState, Tool, cycled


@pytest.fixture
def classes() -> ClassTable:
    return ClassTable(generated_palette(), ["a", "b", "c"], (255,), 3)


def test_label_colors_match_the_class_table(classes):
    rng = np.random.default_rng(0)
    labels = rng.integers(-2, 300, size=(7, 9))
    labels[0, 0] = 255
    np.testing.assert_array_equal(layers.label_colors(classes, labels), classes.rgba(labels))
    final = labels.copy()
    final[2:4] = 1
    expected = classes.rgba(final)
    expected[final == labels] = 0
    np.testing.assert_array_equal(layers.difference_colors(classes, final, labels), expected)


def test_display_sampling_and_final_labels():
    assert layers.display_step((3000, 4000)) == 4 and layers.display_step((319, 320)) == 1
    assert layers.full_rect((3000, 4000), 3) == (0, 0, 4002, 3000)
    labels = np.arange(36).reshape(6, 6)
    edits = np.full((6, 6), layers.NO_EDIT)
    edits[2, 2] = 99
    np.testing.assert_array_equal(layers.final_labels(labels, edits, 2), [[0, 2, 4], [12, 99, 16], [24, 26, 28]])
    assert layers.value_at(labels, edits, 2, 2) == 99 and layers.value_at(labels, edits, 3, 2) == 15
    assert labels[2, 2] == 14  # inputs untouched


def test_object_layer_covers_the_box_and_reads_compact_masks_like_dense_ones():
    refined = np.zeros((20, 30), bool)
    refined[5:10, 8:20] = True
    baseline = np.zeros((20, 30), bool)
    baseline[6:12, 10:22] = True
    dense = layers.object_layer(refined, baseline, 1)
    x0, y0, width, height = dense.rect
    assert (x0, y0) == (7, 4) and (width, height) == (16, 9)
    full = np.zeros((20, 30), bool)
    full[y0:y0 + height, x0:x0 + width] = dense.data[..., 3] > 0
    np.testing.assert_array_equal(full, refined | layers.edges(refined) | layers.edges(baseline))
    compact = layers.object_layer(CompactMask.from_dense(refined), CompactMask.from_dense(baseline), 1, (20, 30))
    np.testing.assert_array_equal(compact.data, dense.data)
    assert compact.rect == dense.rect
    coarse = layers.object_layer(refined, baseline, 2)
    assert coarse.rect[0] % 2 == 0 and coarse.data.shape[0] * 2 == coarse.rect[3]
    assert layers.object_layer(np.zeros((4, 4), bool), np.zeros((4, 4), bool), 1) is None


def test_outlines_picking_shares_and_grid_maps():
    masks = np.zeros((2, 12, 16), bool)
    masks[0, 2:8, 3:9] = True
    masks[1, 5:11, 6:15] = True
    expected = layers.edges(masks[0]) | layers.edges(masks[1])
    np.testing.assert_array_equal(layers.outline_colors(masks, 1)[..., 3] > 0, expected)
    np.testing.assert_array_equal(layers.outline_colors(MaskStack.from_dense(masks), 1)[..., 3] > 0, expected)
    assert layers.outline_colors(masks, 2).shape == (6, 8, 4)
    assert layers.object_at(list(masks), 7, 6) == 0  # in both: the smaller one (36 < 54 pixels)
    assert layers.object_at([CompactMask.from_dense(m) for m in masks], 12, 9) == 1
    assert layers.object_at(list(masks), 0, 0) == -1
    assert layers.class_shares(np.array([[1, 1], [2, 255]]), (255,)) == [(1, 0.5), (2, 0.25)]

    class Grid:  # the core's GridMap geometry: 2x3 cells of 4 pixels, an 8x10 encoder input
        values = np.arange(6, dtype=np.float32).reshape(2, 3)
        stride, input_size = 4, (8, 10)

    at_input = layers.grid_at_input(Grid)
    assert at_input.shape == (8, 10) and at_input.min() >= 0 and at_input.max() <= 5


def test_review_state_signals_and_enums(qtbot):
    state = ReviewState()
    fired: list[str] = []
    for name in ("overlayChanged", "heatmapChanged", "opacityChanged", "outlinesChanged", "toolChanged",
                 "brushSizeChanged", "selectionChanged"):
        getattr(state, name).connect(lambda *_, n=name: fired.append(n))
    state.set_opacity(0.3)
    assert fired == ["opacityChanged"]
    state.set_overlay(Overlay.DIFFERENCE)
    state.set_heatmap(Heatmap.NONE)
    state.set_tool(Tool.FILL)
    state.set_brush_size(10_000)
    state.select(3)  # no document: nothing to select
    assert fired == ["opacityChanged", "overlayChanged", "heatmapChanged", "toolChanged", "brushSizeChanged"]
    assert state.brush_size == 200 and state.selected == -1
    assert cycled(Overlay.NONE) == Overlay.FINAL and Tool.ERASER.paints and not Tool.FILL.paints


def test_recent_list_survives_a_single_entry_in_an_ini_file(tmp_path):
    path = str(tmp_path / "recent.ini")
    RecentList(QSettings(path, QSettings.Format.IniFormat)).add(tmp_path / "one" / "uosam-session.json")
    again = RecentList(QSettings(path, QSettings.Format.IniFormat))
    assert again.paths() == [str(tmp_path / "one" / "uosam-session.json")]
    assert as_list(None) == [] and as_list("") == [] and as_list("x") == ["x"] and as_list(["a", "b"]) == ["a", "b"]


def test_the_heatmap_colour_bar_never_shifts_the_image(qtbot):
    """A user trial: showing or hiding the colour bar resized the view, so the next click landed elsewhere."""
    from uosam_gui.canvas import LabelCanvas

    canvas = LabelCanvas()
    qtbot.addWidget(canvas)
    canvas.resize(800, 600)
    canvas.show()
    qtbot.waitExposed(canvas)
    widths = []
    for visible in (False, True, False):
        canvas.colorbar.setVisible(visible)
        qtbot.wait(20)
        widths.append(canvas.view.geometry().width())
    assert widths[0] == widths[1] == widths[2]

"""The review queue sorts by the refinement's risk (issue 9): the file list's "highest risk first"."""

import pytest

pytest.importorskip("PySide6")

from uosam_gui.file_panel import FilePanel  # noqa: E402
from uosam_gui.session import ImageRecord, ImageState  # noqa: E402


def test_file_list_sorts_by_risk_and_shows_it(qtbot):
    panel = FilePanel()
    qtbot.addWidget(panel)
    records = {key: ImageRecord(key, f"{key}.png", f"{key}.png", state=ImageState.REFINED, changed_fraction=0.1,
                                risk=risk)
               for key, risk in (("a", 0.001), ("b", 0.02), ("c", None), ("d", 0.005))}
    panel.set_records(records)
    panel.sort_combo.setCurrentIndex(panel.sort_combo.findText("highest risk first"))
    assert panel.visible_keys() == ["b", "d", "a", "c"]
    assert "risk 2.00%" in panel.items["b"].text(0)
    assert "risk" not in panel.items["c"].text(0)

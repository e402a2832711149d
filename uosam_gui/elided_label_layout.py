"""A one-line label that never widens its window: it draws its text elided ("...") to the width it
gets and shows the whole text as its tooltip. For status-bar and panel read-outs whose text can be
long (the refinement settings) - a plain QLabel would set the window's minimum width."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QLabel, QSizePolicy

MIN_WIDTH_PX = 40


class ElidedLabel(QLabel):
    """QLabel whose text is cut with "..." at its width; ``text()`` is still the whole text."""

    def __init__(self, text: str = "", parent=None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self.setText(text)

    def setText(self, text: str) -> None:  # noqa: N802 - Qt naming
        """Show ``text`` (elided to the width); the tooltip holds all of it."""
        super().setText(text)
        self.setToolTip(text)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt naming
        """Narrow: the label gives way to the image area."""
        return QSize(min(MIN_WIDTH_PX, super().minimumSizeHint().width()), super().minimumSizeHint().height())

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt naming
        painter = QPainter(self)
        rect = self.contentsRect()
        shown = self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideRight, rect.width())
        painter.drawText(rect, int(self.alignment() | Qt.AlignmentFlag.AlignVCenter), shown)

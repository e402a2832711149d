"""A one-line label that never widens its window: it draws its text elided ("...") to the width it
gets and shows the whole text as its tooltip. For status-bar and panel read-outs whose text can be
long (ground-truth totals, refinement settings) - a plain QLabel would set the window's minimum width."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QLabel, QSizePolicy

MIN_WIDTH_PX = 40


class ElidedLabel(QLabel):
    """QLabel whose text is cut with "..." at its width; ``text()`` is still the whole text."""

    def __init__(self, text: str = "", parent=None, *, tooltip_prefix: str = "", compact_hint: bool = False) -> None:
        """``compact_hint``: ask for no width at all (a panel's read-out: the panel's other widgets set its
        width, a long text never does); else ask for the whole text's width (a status-bar read-out)."""
        super().__init__(parent)
        self.tooltip_prefix = tooltip_prefix
        self.compact_hint = compact_hint
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self.setText(text)

    def setText(self, text: str) -> None:  # noqa: N802 - Qt naming
        """Show ``text`` (elided to the width); the tooltip holds all of it."""
        super().setText(text)
        self.setToolTip(f"{self.tooltip_prefix}{text}" if text else "")

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt naming
        """The whole text's width, or (``compact_hint``) only the minimum's."""
        hint = super().sizeHint()
        return QSize(self.minimumSizeHint().width(), hint.height()) if self.compact_hint else hint

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt naming
        """Narrow: the label gives way to the image area."""
        return QSize(min(MIN_WIDTH_PX, super().minimumSizeHint().width()), super().minimumSizeHint().height())

    def is_elided(self) -> bool:
        """Whether the text is cut at the current width."""
        return self.fontMetrics().horizontalAdvance(self.text()) > self.contentsRect().width()

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt naming
        painter = QPainter(self)
        rect = self.contentsRect()
        shown = self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideRight, rect.width())
        painter.drawText(rect, int(self.alignment() | Qt.AlignmentFlag.AlignVCenter), shown)

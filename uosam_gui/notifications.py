"""The one channel to the user, with levels: information passes through the status bar; warnings
and errors stay in a banner above the image until the user dismisses them or another one replaces
them (an information message never hides an error)."""

from __future__ import annotations

from enum import IntEnum

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QStatusBar

INFO_SECONDS = 8


def image_topic(key: str) -> str:
    """The topic of warnings about one image's refinement (they go when another image is shown)."""
    return f"{IMAGE_TOPIC_PREFIX}{key}"


IMAGE_TOPIC_PREFIX = "image:"


class Level(IntEnum):
    """How much a message matters."""

    INFO = 0
    WARNING = 1
    ERROR = 2


class Banner(QFrame):
    """A persistent message line with a Dismiss button (hidden when empty); ``changed`` after each
    message, so whoever places it can fit it to its text."""

    changed = Signal()

    STYLES = {Level.WARNING: "background: #5c4a12; color: #ffe082;",
              Level.ERROR: "background: #5c1a1a; color: #ff8a80;"}

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.dismiss_button = QPushButton("Dismiss")
        self.dismiss_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # a click leaves the keys with the image
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.dismiss_button)
        self.setVisible(False)

    def show_message(self, level: Level | None, text: str) -> None:
        """Show ``text`` in the colours of ``level`` (None: hide)."""
        self.label.setText(text if level is not None else "")
        if level is not None:
            self.setStyleSheet(self.STYLES[level])
        self.setVisible(level is not None)
        self.changed.emit()


class Notifier(QObject):
    """Routes messages by level; keeps the history and the standing warning/error."""

    changed = Signal()

    def __init__(self, status_bar: QStatusBar, banner: Banner) -> None:
        super().__init__(banner)
        self.status_bar, self.banner = status_bar, banner
        self.messages: list[str] = []  # everything told to the user ("error: ..." for errors)
        self.standing: tuple[Level, str] | None = None
        self.standing_topic: str | None = None
        banner.dismiss_button.clicked.connect(self.dismiss)

    def notify(self, message: str, level: Level = Level.INFO, topic: str | None = None) -> None:
        """Tell the user: info in the status bar for a few seconds, warnings and errors in the banner.

        ``topic`` names what a warning or error is about (e.g. "save"), so :meth:`resolve` can take it
        down once that works again."""
        prefix = {Level.INFO: "", Level.WARNING: "warning: ", Level.ERROR: "error: "}[level]
        self.messages.append(prefix + message)
        if level == Level.INFO:
            self.status_bar.showMessage(message, INFO_SECONDS * 1000)
        else:
            self.standing, self.standing_topic = (level, message), topic
            self.banner.show_message(level, message)
        self.changed.emit()

    def resolve(self, topic: str) -> None:
        """The problem ``topic`` is gone (e.g. a save worked): hide its standing message, if it is shown."""
        if self.standing is not None and self.standing_topic == topic:
            self.dismiss()

    def clear_status(self) -> None:
        """Take a passing message (e.g. "refining ...") off the status bar: what it said is over."""
        self.status_bar.clearMessage()

    def resolve_images_but(self, key: str | None) -> None:
        """Another image is shown: hide a standing warning about another image's refinement."""
        topic = self.standing_topic
        if topic is not None and topic.startswith(IMAGE_TOPIC_PREFIX) and topic != image_topic(key or ""):
            self.dismiss()

    def dismiss(self) -> None:
        """Hide the standing warning or error."""
        self.standing, self.standing_topic = None, None
        self.banner.show_message(None, "")
        self.changed.emit()

"""File > Open recent: the last session files, kept in QSettings as a real list."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QSettings, Signal

KEY = "recent"
LIMIT = 8


def as_list(value) -> list[str]:
    """QSettings' value of a list as a list of str: an INI file hands back a single entry as a plain
    str (and an empty list as None or "")."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [value]
    return [str(entry) for entry in value if entry]


class RecentList(QObject):
    """The recent session files, newest first."""

    changed = Signal()

    def __init__(self, settings: QSettings) -> None:
        super().__init__()
        self.settings = settings

    def paths(self) -> list[str]:
        """Newest first."""
        return as_list(self.settings.value(KEY, []))

    def add(self, path: Path) -> None:
        """Put ``path`` first (once)."""
        path = str(Path(path).absolute())  # a relative path only works from the folder it was opened in
        entries = [path, *(p for p in self.paths() if p != path)][:LIMIT]
        self.settings.setValue(KEY, entries)
        self.settings.sync()
        self.changed.emit()

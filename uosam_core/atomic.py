"""One way to write a file: a temp file beside the target, then ``os.replace``.

Every file the library and the app write goes through here, so an interrupted write never leaves a
half-written target, and outputs get the permissions the user's umask gives a new file (``mkstemp``
alone would leave them 0600, unreadable by others). Temp files are named ``.NAME.<random>.uosam-tmp``
so a clean-up can tell ours from a user's own files.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

TEMP_SUFFIX = ".uosam-tmp"
_umask_lock = threading.Lock()
_umask: int | None = None


def _umask_from_proc() -> int | None:
    """The umask as Linux (4.7+) reports it, without changing it; None elsewhere."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return None


def current_umask() -> int:
    """The process umask (read once). Read from /proc where it can be; elsewhere reading it means
    setting it for an instant, so under a lock."""
    global _umask
    with _umask_lock:
        if _umask is None:
            _umask = _umask_from_proc()
        if _umask is None:
            _umask = os.umask(0o022)
            os.umask(_umask)
        return _umask


@contextlib.contextmanager
def atomic_path(path: Path | str, *, mode: int = 0o666) -> Iterator[Path]:
    """Yield a temp path beside ``path``; when the block ends without error, it replaces ``path``.

    The file gets ``mode & ~umask`` (0644 under the usual umask 022). On error the temp file is removed
    and ``path`` is untouched. Creates the parent folder when missing.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    os.close(handle)
    temporary_path = Path(temporary)
    try:
        yield temporary_path
        os.chmod(temporary_path, mode & ~current_umask())
        os.replace(temporary_path, path)
    finally:
        temporary_path.unlink(missing_ok=True)


def write_bytes(path: Path | str, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as temporary:
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())


def write_text(path: Path | str, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    write_bytes(path, text.encode("utf-8"))


def is_own_temp(path: Path) -> bool:
    """Whether ``path`` is a temp file left by :func:`atomic_path` (safe for a clean-up to remove)."""
    return path.name.startswith(".") and path.name.endswith(TEMP_SUFFIX)

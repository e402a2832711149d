"""The app's own files (Qt-free): whether an output folder can be written, one-line save errors,
label/edits writes with the user's umask permissions, and corrupt files moved aside to a backup.

Every file goes through :mod:`uosam_core.atomic` (temp file beside the target, then ``os.replace``),
so an interrupted or failed write never leaves a half-written target and the old file stays intact.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

from uosam_core.atomic import TEMP_SUFFIX, atomic_path, write_text
from uosam_core.image_io import LabelFormat, write_labels

BACKUP_MARK = ".bad-"


class SaveError(OSError):
    """A file of the app could not be written; the message is one line naming the file and the problem.

    Whoever raises it keeps the in-memory state (records, decisions, pixel edits), so a later save can
    retry and nothing is lost.
    """


def describe_os_error(problem: OSError) -> str:
    """The reason of an OSError in a few words ("Permission denied", "Not a directory", ...)."""
    return problem.strerror or str(problem).splitlines()[0] or type(problem).__name__


def save_error(path: Path | str, problem: OSError, what: str = "could not be written") -> SaveError:
    """``SaveError("PATH: could not be written (REASON)")``; the reason names a file standing where a
    folder of the path should be (e.g. the output folder replaced by a file) rather than "File exists"."""
    existing = nearest_existing(Path(path).parent)
    if not existing.is_dir():
        return SaveError(f"{path}: {what} ({existing} is a file, not a folder)")
    return SaveError(f"{path}: {what} ({describe_os_error(problem)})")


def nearest_existing(path: Path) -> Path:
    """``path`` when it exists, else its nearest existing parent."""
    existing = Path(path)
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    return existing


def writable_problem(out: Path | str) -> str | None:
    """One line naming the folder when ``out`` cannot be created or written, else None.

    Checks the folder (or, when it does not exist yet, its nearest existing parent) with ``os.access``
    and then with a real probe file (removed at once), so a read-only mount, a path under a regular file
    or a folder the user may not write are all caught; creates nothing that stays.
    """
    out = Path(out)
    existing = nearest_existing(out)
    if not existing.is_dir():
        return f"{out}: output folder cannot be created ({existing} is a file, not a folder)"
    if existing == out:
        what = "output folder is not writable"
    else:
        what = f"output folder cannot be created in {existing}"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{out}: {what} (permission denied)"
    try:
        handle, probe = tempfile.mkstemp(prefix=".uosam-probe.", suffix=TEMP_SUFFIX, dir=existing)
        os.close(handle)
        os.unlink(probe)
    except OSError as problem:
        return f"{out}: {what} ({describe_os_error(problem)})"
    return None


def write_label_file(path: Path, labels: np.ndarray, label_format: LabelFormat) -> None:
    """Write a label map (input size, mode, palette) atomically with umask permissions; SaveError when
    it cannot be written (ValueError when the ids do not fit the format)."""
    try:
        write_labels(path, labels, label_format)  # atomic, umask permissions (uosam_core.atomic)
    except OSError as problem:
        raise save_error(path, problem) from None


def write_text_file(path: Path, text: str) -> None:
    """Write a text file (session, log) atomically with umask permissions; SaveError when it cannot."""
    try:
        write_text(path, text)
    except OSError as problem:
        raise save_error(path, problem) from None


def write_edits_file(path: Path, pixel_edits: np.ndarray) -> None:
    """Write an image's pixel edits (HxW int32, -1 where unedited) as a compressed ``.npz``."""
    try:
        with atomic_path(path) as temporary:
            with open(temporary, "wb") as stream:
                np.savez_compressed(stream, pixel_edits=pixel_edits)
    except OSError as problem:
        raise save_error(path, problem) from None


def read_edits_file(path: Path) -> np.ndarray:
    """Read pixel edits written by :func:`write_edits_file`; ValueError (one line) when the file is corrupt."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            values = stored["pixel_edits"]
    except Exception as problem:  # noqa: BLE001 - numpy, zipfile and zlib each raise their own types
        raise ValueError(f"{path}: unreadable pixel edits ({type(problem).__name__}: {problem})") from None
    if values.ndim != 2 or values.dtype.kind not in "iu":
        raise ValueError(f"{path}: unreadable pixel edits (array {values.shape} {values.dtype}, expected HxW ints)")
    return values.astype(np.int32, copy=False)


def check_edits_file(path: Path) -> None:
    """A cheap check of an edits file (its zip directory and member name, nothing decompressed);
    ValueError (one line) when it is not one."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            members = stored.files
    except Exception as problem:  # noqa: BLE001 - numpy and zipfile each raise their own types
        raise ValueError(f"{path}: unreadable pixel edits ({type(problem).__name__}: {problem})") from None
    if "pixel_edits" not in members:
        raise ValueError(f"{path}: unreadable pixel edits (no pixel_edits array in it)")


def move_aside(path: Path) -> Path:
    """Rename a corrupt file to ``NAME.bad-YYYYmmdd-HHMMSS`` (a number added when taken); returns the
    backup's path. Raises OSError when it cannot be renamed."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    backup = path.with_name(f"{path.name}{BACKUP_MARK}{stamp}")
    number = 1
    while backup.exists():
        backup = path.with_name(f"{path.name}{BACKUP_MARK}{stamp}-{number}")
        number += 1
    os.rename(path, backup)
    return backup


def set_aside_notice(path: Path, problem: str, consequence: str) -> str:
    """Move a corrupt file aside and say so in one line (also when it could not be moved)."""
    try:
        backup = move_aside(path)
    except OSError as failure:
        return f"{problem}; could not move it aside ({describe_os_error(failure)}); {consequence}"
    return f"{problem}; kept as {backup.name}; {consequence}"

"""The per-OUT record: one JSON line per finished output (or skipped input), appended, never rewritten.

Layout: ``OUT/.uosam/records/<host>-<pid>-<start>.jsonl``, one file per writing process, so several
processes - or machines over a shared folder, where ``O_APPEND`` is not atomic - never interleave
bytes. A line is appended with ``O_APPEND`` in one ``write`` and ``fsync``-ed, after the output PNG
is in place; a line torn by a crash (no closing newline / bad JSON) is ignored when read, and the
next run writes to a new file. The latest line for a key wins.

A record (plain dict) holds: ``key``, ``status`` ("written" / "skipped"), ``output`` (path relative to
OUT), ``image`` / ``label`` (paths), ``image_sha256`` / ``label_sha256`` with ``image_stat`` /
``label_stat`` ([size, mtime_ns], so a re-run need not re-hash unchanged files), ``output_sha256`` /
``output_stat``, ``settings_sha256``, ``model``, ``checkpoint_sha256``, ``stats``, ``time`` (unix s),
``host``, ``pid``, and for skipped inputs ``file`` and ``problem``.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import threading
import time
from enum import Enum
from pathlib import Path

STATE_DIR = ".uosam"
_RECORDS = "records"


class Status(str, Enum):
    """A record's ``status``: the output was written, or the input was skipped (stored as the plain string)."""

    WRITTEN = "written"
    SKIPPED = "skipped"


def state_dir(out_dir: Path) -> Path:
    """The hidden folder under OUT that holds records and claims."""
    return Path(out_dir) / STATE_DIR


def file_stat(path: Path) -> list[int]:
    """[size, mtime_ns] of a file: what a record compares before trusting a stored hash."""
    status = os.stat(path)
    return [status.st_size, status.st_mtime_ns]


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def sha256_if_unchanged(path: Path, stat: list[int] | None, known: str | None) -> str:
    """``known`` when ``path``'s [size, mtime_ns] still equals ``stat``, else the file's fresh sha256."""
    if known and stat is not None and file_stat(path) == list(stat):
        return known
    return sha256_file(path)


class RecordBook:
    """Reads every record file under ``OUT/.uosam/records`` and appends to this process's own one.

    :meth:`refresh` reads only what was appended since the last call, so checking "did another
    process finish this image meanwhile" stays cheap however long the run.
    """

    def __init__(self, out_dir: Path) -> None:
        self.folder = state_dir(out_dir) / _RECORDS
        self.folder.mkdir(parents=True, exist_ok=True)
        self.host = socket.gethostname()
        self.own_file = self.folder / f"{self.host}-{os.getpid()}-{time.time_ns()}.jsonl"
        self.latest: dict[str, dict] = {}
        self.lines = 0
        self._offsets: dict[Path, int] = {}
        self._handle: int | None = None
        self._lock = threading.Lock()  # a prefetching reader refreshes while the driver appends
        self.refresh()

    def refresh(self) -> None:
        """Read the complete lines appended to any record file since the last refresh."""
        with self._lock:
            self._refresh()

    def _refresh(self) -> None:
        for path in sorted(self.folder.glob("*.jsonl")):
            offset = self._offsets.get(path, 0)
            try:
                with open(path, "rb") as handle:
                    handle.seek(offset)
                    data = handle.read()
            except FileNotFoundError:
                continue
            end = data.rfind(b"\n") + 1  # a line still being written (or torn by a crash) waits
            for line in data[:end].splitlines():
                self._take(line)
            self._offsets[path] = offset + end

    def _take(self, line: bytes) -> None:
        try:
            record = json.loads(line)
        except ValueError:
            return
        if isinstance(record, dict) and isinstance(record.get("key"), str):
            self.lines += 1
            previous = self.latest.get(record["key"])
            if previous is None or record.get("time", 0) >= previous.get("time", 0):
                self.latest[record["key"]] = record

    def append(self, record: dict) -> None:
        """Append one record as one line (``O_APPEND``, one write, fsync) and remember it."""
        data = (json.dumps(record, sort_keys=True, ensure_ascii=True) + "\n").encode("utf-8")
        with self._lock:
            self._append(record, data)

    def _append(self, record: dict, data: bytes) -> None:
        if self._handle is None:
            self._handle = os.open(self.own_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)
        written = os.write(self._handle, data)
        if written != len(data):
            raise OSError(f"{self.own_file}: short write of a record ({written} of {len(data)} bytes)")
        os.fsync(self._handle)
        self._offsets[self.own_file] = self._offsets.get(self.own_file, 0) + written
        self.latest[record["key"]] = record
        self.lines += 1

    def close(self) -> None:
        """Close this process's record file (records stay on disk)."""
        if self._handle is not None:
            os.close(self._handle)
            self._handle = None

    def all_lines(self) -> list[dict]:
        """Every record line in every file (for checks: how often was each key written)."""
        found = []
        for path in sorted(self.folder.glob("*.jsonl")):
            for line in path.read_bytes().splitlines():
                try:
                    found.append(json.loads(line))
                except ValueError:
                    continue
        return found

"""Atomic per-image claims, so several processes (or machines) on one OUT never refine an image twice.

A claim is ``OUT/.uosam/claims/<sha256(key)[:32]>.claim``, created with ``O_CREAT | O_EXCL`` (atomic,
also on NFSv3+) and holding ``{"key", "host", "pid", "start", "time"}``. It is held while the image
is refined and removed once its record is written. A claim is stale - and taken over - when its
process is gone (same host: no such pid, or the pid now belongs to a process started at another
time) or when it is older than ``stale_after_s`` (another host, whose processes we cannot see).
Take-over renames the stale file to a unique name first (only one process can), checks that what it
moved is the stale claim it read, and then claims afresh with ``O_EXCL``.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from pathlib import Path

from .records import state_dir

DEFAULT_STALE_AFTER_S = 6 * 3600.0  # no single image takes hours; a claim that old was abandoned


def process_start(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks since boot (Linux ``/proc``), or None where unknown."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
        return int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def pid_alive(pid: int, start: int | None) -> bool:
    """Whether process ``pid`` exists on this host and (when known) started at ``start``."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    if start is not None:
        now_start = process_start(pid)
        if now_start is not None and now_start != start:
            return False
    return True


class Claims:
    """This process's view of the claims folder of one OUT."""

    def __init__(self, out_dir: Path, stale_after_s: float = DEFAULT_STALE_AFTER_S) -> None:
        self.folder = state_dir(out_dir) / "claims"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.stale_after_s = stale_after_s
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.start = process_start(self.pid)
        self.held: set[str] = set()
        self.taken_over = 0

    def _path(self, key: str) -> Path:
        return self.folder / f"{hashlib.sha256(key.encode('utf-8')).hexdigest()[:32]}.claim"

    def _payload(self, key: str) -> bytes:
        return json.dumps({"key": key, "host": self.host, "pid": self.pid, "start": self.start,
                           "time": time.time()}).encode("utf-8")

    def _create(self, key: str) -> bool:
        try:
            handle = os.open(self._path(key), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            return False
        try:
            os.write(handle, self._payload(key))
        finally:
            os.close(handle)
        self.held.add(key)
        return True

    def is_stale(self, holder: dict | None, age_s: float) -> bool:
        """Whether a claim with content ``holder`` (None: unreadable/empty) and age ``age_s`` is abandoned."""
        if holder is None:
            return age_s > 60.0  # a claim being written right now is empty for microseconds only
        if holder.get("host") == self.host and isinstance(holder.get("pid"), int):
            if holder["pid"] == self.pid and holder.get("start") == self.start:
                return False  # our own (held by another thread of this process)
            return not pid_alive(holder["pid"], holder.get("start"))
        return age_s > self.stale_after_s

    def try_claim(self, key: str) -> bool:
        """Claim ``key``; True when this process now holds it (fresh or taken over from a dead one)."""
        if self._create(key):
            return True
        path = self._path(key)
        try:
            raw = path.read_bytes()
            age = time.time() - path.stat().st_mtime
        except FileNotFoundError:
            return self._create(key)  # released meanwhile
        try:
            holder = json.loads(raw)
        except ValueError:
            holder = None
        if not self.is_stale(holder if isinstance(holder, dict) else None, age):
            return False
        aside = path.with_name(f"{path.name}.{self.host}.{self.pid}.{time.time_ns()}.stale")
        try:
            os.rename(path, aside)
        except FileNotFoundError:
            return self._create(key)
        if aside.read_bytes() != raw:  # another process re-claimed between our read and our rename
            try:
                os.link(aside, path)  # put it back (fails only if a third claim appeared)
            except FileExistsError:
                pass
            aside.unlink(missing_ok=True)
            return False
        aside.unlink(missing_ok=True)
        if self._create(key):
            self.taken_over += 1
            return True
        return False

    def release(self, key: str) -> None:
        """Give up the claim of ``key`` (after its record is written, or when abandoning it)."""
        if key in self.held:
            self.held.discard(key)
            self._path(key).unlink(missing_ok=True)

    def release_all(self) -> None:
        """Release every claim this process holds (end of run, Ctrl-C)."""
        for key in list(self.held):
            self.release(key)

    def any_live(self) -> bool:
        """Whether any claim under OUT belongs to a live process (other than this one)."""
        for path in self.folder.glob("*.claim"):
            try:
                raw = path.read_bytes()
                age = time.time() - path.stat().st_mtime
                holder = json.loads(raw)
            except (OSError, ValueError):
                continue
            if isinstance(holder, dict) and holder.get("pid") == self.pid and holder.get("host") == self.host:
                continue
            if not self.is_stale(holder if isinstance(holder, dict) else None, age):
                return True
        return False

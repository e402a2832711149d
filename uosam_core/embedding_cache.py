"""A bounded in-memory LRU of image embeddings, with an optional size-limited on-disk layer.

The disk layer is one ``KEY.pt`` file per entry, written atomically (unique temp name, then rename),
so several processes - or several machines over a shared folder - can put, read and evict at once.
Recency is the file's modification time: a hit touches it, and when the folder grows past
``max_disk_bytes`` the least recently used files are removed until it is back under 90 % of the limit
(each process counts the folder again after every 10 % of the limit it wrote, so several writers
together overshoot the limit by at most 10 % each).
A file another process removed, or a damaged file, is a miss, never an error.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from pathlib import Path

import torch

from .atomic import atomic_path, is_own_temp

Features = torch.Tensor | dict[str, torch.Tensor]
"""SAM features (1x256x64x64 float32) or, for model families with extra maps, a dict of tensors."""

DEFAULT_DISK_BYTES = 4 * 1024**3  # 4 GiB: about 1000 SAM embeddings of 4 MiB
_SUFFIX = ".pt"


class CacheFolderError(ValueError):
    """The cache folder cannot be used (it is a file, or cannot be created)."""


def features_nbytes(features: Features) -> int:
    """Bytes held by ``features`` (sum over the tensors of a dict)."""
    if isinstance(features, dict):
        return sum(tensor.numel() * tensor.element_size() for tensor in features.values())
    return features.numel() * features.element_size()


def _detached(features: Features) -> Features:
    if isinstance(features, dict):
        return {name: tensor.detach().cpu() for name, tensor in features.items()}
    return features.detach().cpu()


class EmbeddingCache:
    """LRU cache ``key -> (features, input_size)``; ``disk_dir`` adds a persistent, bounded layer.

    Thread-safe, so a GUI can prefetch the next image while the current one is decoded.
    ``max_disk_bytes`` bounds the disk layer (default 4 GiB).
    """

    def __init__(self, max_items: int = 8, disk_dir: Path | str | None = None,
                 max_disk_bytes: int = DEFAULT_DISK_BYTES) -> None:
        self.max_items = max_items
        self.max_disk_bytes = int(max_disk_bytes)
        self.disk_dir = Path(disk_dir) if disk_dir else None
        self._items: OrderedDict[str, tuple[Features, tuple[int, int]]] = OrderedDict()
        self._lock = threading.Lock()
        self._disk_estimate: int | None = None  # bytes on disk as last counted plus our own puts since
        self._written_since_scan = 0
        self.hits = 0
        self.misses = 0
        self.evicted = 0
        self.largest_entry = 0  # bytes of the largest embedding written (> max_disk_bytes: none can stay)
        if self.disk_dir is not None:
            if self.disk_dir.exists() and not self.disk_dir.is_dir():
                raise CacheFolderError(f"{self.disk_dir}: embedding cache must be a folder, but it is a file")
            try:
                self.disk_dir.mkdir(parents=True, exist_ok=True)
            except OSError as problem:
                raise CacheFolderError(f"{self.disk_dir}: cannot create the embedding cache folder "
                                       f"({problem.strerror or problem})") from None

    def _disk_path(self, key: str) -> Path:
        assert self.disk_dir is not None
        return self.disk_dir / f"{key}{_SUFFIX}"

    def get(self, key: str) -> tuple[Features, tuple[int, int]] | None:
        """The cached entry, or None; a disk hit is promoted to memory and marked recently used."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return self._items[key]
        entry = self._load(key) if self.disk_dir is not None else None
        if entry is not None:
            self._remember(key, entry)
            with self._lock:
                self.hits += 1
            return entry
        with self._lock:
            self.misses += 1
        return None

    def _load(self, key: str) -> tuple[Features, tuple[int, int]] | None:
        path = self._disk_path(key)
        try:
            stored = torch.load(path, map_location="cpu", weights_only=True)
            features = stored["features"]
            if isinstance(features, dict):
                if not all(isinstance(tensor, torch.Tensor) for tensor in features.values()):
                    return None
            elif not isinstance(features, torch.Tensor):
                return None
            entry = (features, (int(stored["input_size"][0]), int(stored["input_size"][1])))
            os.utime(path)  # recency for the LRU eviction
        except Exception:  # noqa: BLE001 - missing (evicted by another process) or damaged: a miss
            return None
        return entry

    def _remember(self, key: str, entry: tuple[Features, tuple[int, int]]) -> None:
        with self._lock:
            self._items[key] = entry
            self._items.move_to_end(key)
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)

    def put(self, key: str, features: Features, input_size: tuple[int, int]) -> None:
        """Store an embedding in memory and, when enabled, atomically on disk (evicting old entries)."""
        self._remember(key, (features, input_size))
        if self.disk_dir is None:
            return
        target = self._disk_path(key)
        with atomic_path(target) as temporary:
            torch.save({"features": _detached(features), "input_size": list(input_size)}, temporary)
        written = target.stat().st_size if target.exists() else 0
        with self._lock:
            self.largest_entry = max(self.largest_entry, written)
            if self._disk_estimate is not None:
                self._disk_estimate += written
            self._written_since_scan += written
            # other processes write too: count the folder again after every 10 % of the limit we add
            rescan = (self._disk_estimate is None or self._disk_estimate > self.max_disk_bytes
                      or self._written_since_scan > self.max_disk_bytes // 10)
        if rescan:
            self.evict()

    def too_small(self) -> str | None:
        """A line saying the disk bound holds no embedding at all (None when it holds at least one)."""
        if self.disk_dir is None or self.largest_entry <= self.max_disk_bytes:
            return None
        return (f"{self.disk_dir}: an embedding takes {self.largest_entry / 1e6:.1f} MB, more than the cache's "
                f"bound of {self.max_disk_bytes / 1e6:.1f} MB (--embedding-cache-gb): nothing stays cached")

    def disk_entries(self) -> list[tuple[float, int, Path]]:
        """(modification time, bytes, path) of every entry on disk, oldest first."""
        if self.disk_dir is None:
            return []
        entries = []
        with os.scandir(self.disk_dir) as scan:
            for item in scan:
                if not item.name.endswith(_SUFFIX) or item.name.startswith("."):
                    continue
                try:
                    stat = item.stat()
                except FileNotFoundError:  # removed by another process meanwhile
                    continue
                entries.append((stat.st_mtime, stat.st_size, Path(item.path)))
        return sorted(entries)

    def evict(self) -> int:
        """Remove least recently used disk entries until the folder is under 90 % of the limit.

        Returns the bytes left. Safe while other processes put and evict: a file already gone is skipped.
        """
        entries = self.disk_entries()
        total = sum(size for _, size, _ in entries)
        if total > self.max_disk_bytes:
            goal = int(self.max_disk_bytes * 0.9)
            for _, size, path in entries:
                if total <= goal:
                    break
                try:
                    path.unlink()
                    self.evicted += 1
                except FileNotFoundError:
                    pass
                total -= size
        self._remove_stale_temps()
        with self._lock:
            self._disk_estimate = total
            self._written_since_scan = 0
        return total

    def _remove_stale_temps(self, older_than_s: float = 3600.0) -> None:
        """Temp files of writers killed mid-write (older than an hour, so never a live writer's)."""
        assert self.disk_dir is not None
        now = time.time()
        for path in self.disk_dir.iterdir():
            try:
                if is_own_temp(path) and now - path.stat().st_mtime > older_than_s:
                    path.unlink()
            except FileNotFoundError:
                pass

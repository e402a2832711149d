import numpy as np
import pytest
from PIL import Image

from uosam_core.image_io import InputError, LabelFormat, check_pair, read_image, read_labels, write_labels


def test_truncated_image_names_the_file(tmp_path, demo_stems):
    from conftest import DEMO

    data = (DEMO / "images" / f"{demo_stems[0]}.png").read_bytes()
    broken = tmp_path / "broken.png"
    broken.write_bytes(data[: len(data) // 3])
    with pytest.raises(InputError, match=r"broken\.png: unreadable or truncated image"):
        read_image(broken)


@pytest.mark.parametrize("mode,shape,dtype,message", [
    ("RGB", (8, 8, 3), np.uint8, "RGB label file"),
    ("RGBA", (8, 8, 4), np.uint8, "RGBA label file"),
    ("I;16", (8, 8), np.uint16, "I;16 label file"),
])
def test_label_files_that_are_not_8_bit_ids_are_refused(tmp_path, mode, shape, dtype, message):
    path = tmp_path / "label.png"
    Image.fromarray(np.ones(shape, dtype)).save(path)
    assert Image.open(path).mode == mode
    with pytest.raises(InputError, match=rf"label\.png: {message}"):
        read_labels(path)


def test_grayscale_and_cmyk_images_become_rgb(tmp_path):
    gray = tmp_path / "gray.png"
    Image.fromarray(np.full((5, 7), 90, np.uint8), "L").save(gray)
    cmyk = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (7, 5), (0, 255, 255, 0)).save(cmyk)
    assert read_image(gray).shape == (5, 7, 3)
    red = read_image(cmyk)
    assert red.shape == (5, 7, 3) and red[..., 0].mean() > 200 and red[..., 1].mean() < 60


def test_exif_rotation_is_applied(tmp_path):
    path = tmp_path / "rotated.jpg"
    image = Image.new("RGB", (40, 20), (10, 20, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when shown
    image.save(path, exif=exif)
    assert read_image(path).shape == (40, 20, 3)


def test_non_ascii_paths_work(tmp_path):
    folder = tmp_path / "données-标签"
    folder.mkdir()
    path = folder / "étiquette.png"
    write_labels(path, np.array([[1, 2], [3, 255]]), LabelFormat("L"))
    labels, label_format = read_labels(path)
    assert labels.tolist() == [[1, 2], [3, 255]] and label_format.mode == "L"


def test_palette_is_kept_and_write_is_atomic(tmp_path):
    palette = list(range(256)) * 3
    source = tmp_path / "in.png"
    image = Image.fromarray(np.array([[0, 1], [2, 3]], np.uint8), "P")
    image.putpalette(palette)
    image.save(source)
    labels, label_format = read_labels(source)
    target = tmp_path / "out" / "in.png"
    write_labels(target, labels[::-1], label_format)
    written = Image.open(target)
    assert written.mode == "P" and written.getpalette()[:12] == palette[:12]
    assert np.asarray(written).tolist() == [[2, 3], [0, 1]]
    assert [p.name for p in target.parent.iterdir()] == ["in.png"]


def test_pass_encoding_round_trips_ids_above_255(tmp_path):
    path = tmp_path / "pass.png"
    ids = np.array([[0, 37], [1000, 50]])
    write_labels(path, ids, LabelFormat("pass-rgb"))
    read, label_format = read_labels(path, encoding="pass")
    assert read.tolist() == ids.tolist() and label_format.mode == "pass-rgb"


def test_pair_checks_size_and_class_count_and_accepts_all_ignore():
    image = np.zeros((4, 6, 3), np.uint8)
    with pytest.raises(InputError, match=r"lab\.png: label size 4x6 \(WxH\) differs from its image 6x4"):
        check_pair(image, np.zeros((6, 4), np.int32), "lab.png", num_classes=None, ignore_ids=(255,))
    with pytest.raises(InputError, match="class id 30 is not below the class count 27"):
        check_pair(image, np.full((4, 6), 30), "lab.png", num_classes=27, ignore_ids=(255,))
    check_pair(image, np.full((4, 6), 255), "lab.png", num_classes=27, ignore_ids=(255,))  # nothing labelled: fine


def png_bytes(width, height, *, ihdr_length=13, color_type=0):
    """A PNG made of a signature, an IHDR saying ``width`` x ``height`` and one tiny IDAT (no pixel data
    to speak of): what a decompression bomb's header looks like to a reader that checks sizes first."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)[:ihdr_length]
    pixels = chunk(b"IDAT", zlib.compress(b"\0" * 64))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + pixels + chunk(b"IEND", b"")


def test_input_error_carries_the_path_and_the_problem():
    error = InputError("/data/a:b.png: label file not found", path="/data/a:b.png")
    assert str(error) == "/data/a:b.png: label file not found"
    assert str(error.path) == "/data/a:b.png" and error.problem == "label file not found"
    legacy = InputError("x.png: old style")
    assert legacy.path is None and str(legacy) == "x.png: old style"
    import pickle

    copied = pickle.loads(pickle.dumps(error))  # a process pool hands errors back pickled
    assert str(copied.path) == "/data/a:b.png" and copied.problem == "label file not found"


def test_jpeg_bytes_in_a_png_label_are_refused(tmp_path):
    path = tmp_path / "lab.png"
    Image.fromarray(np.full((16, 16), 3, np.uint8), "L").save(path, format="JPEG")
    with pytest.raises(InputError, match=r"lab\.png: label file holds JPEG data, not PNG") as caught:
        read_labels(path)
    assert caught.value.path == path


@pytest.mark.parametrize("size", [(100_000, 100_000), (10_000, 8_001)])
def test_oversized_files_name_the_right_file(tmp_path, size):
    """A bomb header (Pillow's DecompressionBombError) and a plain over-limit size are both one
    InputError naming the file that is at fault, image or label."""
    header = png_bytes(*size)
    image_path, label_path = tmp_path / "big image.png", tmp_path / "big:label.png"
    image_path.write_bytes(header)
    label_path.write_bytes(header)
    with pytest.raises(InputError, match="80-megapixel limit") as caught:
        read_image(image_path)
    assert caught.value.path == image_path and str(caught.value).startswith(f"{image_path}: image")
    with pytest.raises(InputError, match="80-megapixel limit") as caught:
        read_labels(label_path)
    assert caught.value.path == label_path and str(caught.value).startswith(f"{label_path}: label")


def test_bomb_warning_raised_as_error_is_an_input_error(tmp_path):
    path = tmp_path / "warn.png"
    path.write_bytes(png_bytes(10_000, 9_000))  # over Pillow's warning threshold, under its error one
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(InputError, match=r"warn\.png: label is over the 80-megapixel limit") as caught:
            read_labels(path)
    assert caught.value.path == path


def test_truncated_ihdr_and_other_reader_failures_are_input_errors(tmp_path):
    short = tmp_path / "short.png"
    short.write_bytes(png_bytes(16, 16, ihdr_length=8))
    for reader in (read_image, read_labels):
        with pytest.raises(InputError, match=r"short\.png: unreadable or truncated") as caught:
            reader(short)
        assert caught.value.path == short
    folder = tmp_path / "folder.png"
    folder.mkdir()
    with pytest.raises(InputError, match=r"folder\.png: cannot read label file"):
        read_labels(folder)


def test_one_bit_labels_read_as_ids_zero_and_one(tmp_path):
    path = tmp_path / "mask.png"
    Image.fromarray(np.eye(4, dtype=bool)).save(path)
    assert Image.open(path).mode == "1"
    labels, label_format = read_labels(path)
    assert labels.tolist() == np.eye(4, dtype=int).tolist() and label_format.mode == "L"


def test_outputs_get_umask_permissions(tmp_path):
    import os
    import stat

    from uosam_core.image_io import save_json_atomically

    previous = os.umask(0o022)
    os.umask(previous)
    expected = 0o666 & ~previous
    write_labels(tmp_path / "out" / "lab.png", np.zeros((2, 2), int), LabelFormat("L"))
    save_json_atomically(tmp_path / "out" / "summary.json", "{}")
    for name in ("lab.png", "summary.json"):
        assert stat.S_IMODE((tmp_path / "out" / name).stat().st_mode) == expected, name
    if previous == 0o022:
        assert expected == 0o644
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["lab.png", "summary.json"]


def test_sixteen_bit_and_float_images_scale_to_eight_bits(tmp_path):
    path = tmp_path / "deep.png"
    Image.fromarray(np.array([[0, 1000], [2000, 4000]], np.uint16)).save(path)
    assert read_image(path)[..., 0].tolist() == [[0, 63], [127, 255]]
    tiff = tmp_path / "float.tif"
    Image.fromarray(np.array([[-1.0, np.nan], [0.5, 1.0]], np.float32), "F").save(tiff)
    assert read_image(tiff)[..., 0].tolist() == [[0, 0], [127, 255]]

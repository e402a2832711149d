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


def test_pair_checks_size_class_count_and_all_ignore():
    image = np.zeros((4, 6, 3), np.uint8)
    with pytest.raises(InputError, match=r"lab\.png: label size 4x6 \(WxH\) differs from its image 6x4"):
        check_pair(image, np.zeros((6, 4), np.int32), "lab.png", num_classes=None, ignore_ids=(255,))
    with pytest.raises(InputError, match="class id 30 is not below the class count 27"):
        check_pair(image, np.full((4, 6), 30), "lab.png", num_classes=27, ignore_ids=(255,))
    with pytest.raises(InputError, match="every pixel is ignore"):
        check_pair(image, np.full((4, 6), 255), "lab.png", num_classes=27, ignore_ids=(255,))

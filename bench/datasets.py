"""The shared evaluation sets (../shared/data): images, truth, baseline, class names, ignore id; and the
loader that crops one image's triplet to its common size."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from uosam_core.image_io import read_image, read_labels  # noqa: E402
from uosam_core.metrics import common_crop  # noqa: E402

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data"

COCOSTUFF27_CLASSES = (
    "electronic", "appliance", "food-things", "furniture-things", "indoor", "kitchen", "accessory", "animal",
    "outdoor", "person", "sports", "vehicle", "ceiling", "floor", "food-stuff", "furniture-stuff",
    "raw-material", "textile", "wall", "window", "building", "ground", "plant", "sky", "solid", "structural",
    "water")
CAMVID_CLASSES = ("sky", "building", "pole", "road", "pavement", "tree", "signsymbol", "fence", "car",
                  "pedestrian", "bicyclist")
VOC_CLASSES = ("background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
               "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
               "train", "tvmonitor")


@dataclass(frozen=True)
class EvalSet:
    """One shared set with one baseline; label ids are 0..num_classes-1, ``ignore_index`` is void."""

    name: str
    images: Path
    labels: Path
    baseline: Path
    num_classes: int
    ignore_index: int
    class_names: tuple[str, ...] = ()
    background_first: bool = False  # class 0 is a background (drawn black in the report's PNGs)

    def class_name(self, class_id: int) -> str:
        """The class's name, or its id as text when the set has no names."""
        return self.class_names[class_id] if class_id < len(self.class_names) else str(class_id)

    def stems(self) -> list[str]:
        """Stems of the baseline label PNGs, sorted."""
        return sorted(path.stem for path in self.baseline.glob("*.png"))


def eval_sets() -> list[EvalSet]:
    """Every shared set and baseline, in the order the benchmark tables list them."""
    coco = SHARED / "cocostuff27-uss"
    sets = [EvalSet(f"cocostuff27/{model}", coco / "image", coco / "label", coco / model, 27, 255,
                    COCOSTUFF27_CLASSES) for model in ("cause", "stego", "hp", "recoplus")]
    camvid = SHARED / "camvid-val"
    sets.append(EvalSet("camvid/coarse8", camvid / "image", camvid / "label", camvid / "coarse8", 11, 11,
                        CAMVID_CLASSES))
    voc = SHARED / "voc12-val14"
    sets.append(EvalSet("voc12/coarse16", voc / "image", voc / "label", voc / "coarse16", 21, 255, VOC_CLASSES,
                        background_first=True))
    return sets


def load_triplet(eval_set: EvalSet, stem: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(image HxWx3 uint8 RGB, truth HxW int32, baseline HxW int32) of one stem, cropped to their common
    size (the cocostuff panels may be off by a pixel). Raises InputError naming a bad file."""
    image = read_image(eval_set.images / f"{stem}.png")
    gt, _ = read_labels(eval_set.labels / f"{stem}.png")
    pred, _ = read_labels(eval_set.baseline / f"{stem}.png")
    image, gt = common_crop(image, gt)
    image, pred = common_crop(image, pred)
    gt, pred = common_crop(gt, pred)
    image = np.ascontiguousarray(image[: gt.shape[0], : gt.shape[1]])
    return image, gt, pred

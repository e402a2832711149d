"""The shared evaluation sets (../shared/data) as (name, image dir, label dir, baseline dir, classes, ignore)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


@dataclass(frozen=True)
class EvalSet:
    name: str
    images: Path
    labels: Path
    baseline: Path
    num_classes: int
    ignore_index: int


def eval_sets() -> list[EvalSet]:
    """Every shared set and baseline, in the order the benchmark tables list them."""
    coco = SHARED / "cocostuff27-uss"
    sets = [EvalSet(f"cocostuff27/{model}", coco / "image", coco / "label", coco / model, 27, 255)
            for model in ("cause", "stego", "hp", "recoplus")]
    camvid = SHARED / "camvid-val"
    sets.append(EvalSet("camvid/coarse8", camvid / "image", camvid / "label", camvid / "coarse8", 11, 11))
    voc = SHARED / "voc12-val14"
    sets.append(EvalSet("voc12/coarse16", voc / "image", voc / "label", voc / "coarse16", 21, 255))
    return sets

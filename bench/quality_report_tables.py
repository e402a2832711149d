"""Per-class IoU tables for bench/quality.py: baseline vs each variant (and the dense CRF), with deltas,
classes that lose more than :data:`LOSS_FLAG` IoU points flagged, and each variant's worst class loss."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

LOSS_FLAG = 2.0  # IoU points a class may lose against the baseline before it is flagged (issue 9)


@dataclass(frozen=True)
class ClassLoss:
    """A variant's IoU change of one class of one set (negative: a loss), in points."""

    variant: str
    set_name: str
    class_name: str
    delta: float

    def line(self) -> str:
        """The final summary line of a variant."""
        return f"{self.variant}: worst class loss: {self.delta:+.2f} ({self.set_name}/{self.class_name})"


def _cell(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2f}"


def per_class_table(set_name: str, class_names: list[str], baseline: np.ndarray,
                    variants: dict[str, np.ndarray]) -> tuple[list[str], list[ClassLoss]]:
    """Markdown lines of one set's per-class IoU (percent) table, and every class change per variant.

    ``baseline`` and each variant's array hold one IoU per class (NaN where the class is in neither the
    truth nor the prediction). A class's delta is only taken where both sides have a number. Rows
    where every column is NaN are left out. A class flagged ``!`` lost more than LOSS_FLAG points.
    """
    names = list(variants)
    header = "| class | baseline | " + " | ".join(f"{name} | delta" for name in names) + " | flag |"
    lines = [f"Per-class IoU, {set_name}", header, "|---|---|" + "---|---|" * len(names) + "---|"]
    changes: list[ClassLoss] = []
    for class_id, class_name in enumerate(class_names):
        base = float(baseline[class_id])
        values = {name: float(variants[name][class_id]) for name in names}
        if math.isnan(base) and all(math.isnan(value) for value in values.values()):
            continue
        cells, flagged = [], []
        for name, value in values.items():
            delta = value - base
            cells.append(f"{_cell(value)} | {'-' if math.isnan(delta) else f'{delta:+.2f}'}")
            if not math.isnan(delta):
                changes.append(ClassLoss(name, set_name, class_name, delta))
                if delta < -LOSS_FLAG:
                    flagged.append(name)
        flag = ("! " + ", ".join(flagged)) if flagged else ""
        lines.append(f"| {class_name} | {_cell(base)} | " + " | ".join(cells) + f" | {flag} |")
    return lines, changes


def worst_class_losses(changes: list[ClassLoss]) -> list[ClassLoss]:
    """Each variant's most negative class change, in the order the variants first appear."""
    worst: dict[str, ClassLoss] = {}
    for change in changes:
        if change.variant not in worst or change.delta < worst[change.variant].delta:
            worst[change.variant] = change
    return list(worst.values())

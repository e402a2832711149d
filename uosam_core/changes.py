"""Why each pixel changed: per-region change records and a per-image risk figure.

A refinement paints the baseline in three steps: accepted LRO objects, then GRO masks (each with
its vote), then the nearest-class fill of pixels left unknown. The compose and vote steps write
which object / mask painted each pixel into source maps (HxW int32, -1: none); the changed pixels
are grouped by (step, object or mask, baseline class, new class) into :class:`RegionChange` records.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np


class ChangeSource(StrEnum):
    """The step that gave a changed pixel its class."""

    LRO = "lro"  # an accepted refined object (index: the object's index)
    GRO = "gro"  # a voted SAM mask (index: the mask's index in GroResult.masks)
    FILL = "fill"  # a pixel refined away and filled from its nearest labelled neighbour (index -1)


@dataclass(frozen=True)
class RegionChange:
    """Pixels one step moved from one class to another.

    evidence: the step's confidence in [0, 1]: an LRO object's IoU with its baseline object, a GRO
    mask's vote share, 0 for the fill. box: (top, left, bottom, right) of the changed pixels.
    """

    source: ChangeSource
    index: int
    from_class: int
    to_class: int
    pixels: int
    evidence: float
    box: tuple[int, int, int, int]

    def describe(self) -> str:
        """One line for a tooltip or a log."""
        if self.source is ChangeSource.LRO:
            why = f"refined object {self.index} (IoU with its baseline {self.evidence:.2f})"
        elif self.source is ChangeSource.GRO:
            why = f"SAM mask {self.index} (vote share {self.evidence:.2f})"
        else:
            why = "nearest-class fill of pixels refined away"
        return f"{self.pixels} px {self.from_class} -> {self.to_class}: {why}"


def summarize(baseline: np.ndarray, labels: np.ndarray, lro_source: np.ndarray, gro_source: np.ndarray | None,
              lro_evidence: np.ndarray, gro_evidence: np.ndarray | None) -> list[RegionChange]:
    """Change records of one image, largest first.

    baseline, labels: HxW int; lro_source / gro_source: HxW int32 index of the object / mask that
    painted each pixel last (-1: none); *_evidence: (objects,) / (masks,) float confidences.
    A changed pixel is the GRO's where a mask painted it, else the LRO's where an object did, else the fill's.
    """
    changed = labels != baseline
    if not changed.any():
        return []
    rows, cols = np.nonzero(changed)
    del changed
    gro = gro_source[rows, cols] if gro_source is not None else np.full(rows.size, -1, np.int32)
    lro = lro_source[rows, cols]
    kind = np.where(gro >= 0, 1, np.where(lro >= 0, 0, 2)).astype(np.int64)
    index = np.where(gro >= 0, gro, np.where(lro >= 0, lro, -1)).astype(np.int64) + 1
    del gro, lro
    before = baseline[rows, cols].astype(np.int64) + 1
    after = labels[rows, cols].astype(np.int64) + 1
    # one int64 key per changed pixel, ordered as the tuple (kind, index, before, after): a 1-D sort
    # instead of unique rows, ~5x less memory on a 24-MP image that changed a lot
    spans = [int(part.max()) + 1 for part in (index, before, after)]
    if 3 * spans[0] * spans[1] * spans[2] >= 2 ** 63:
        raise ValueError(f"change records: ids up to {spans[1:]} do not fit one key")  # not with 16-bit ids
    keys = ((kind * spans[0] + index) * spans[1] + before) * spans[2] + after
    del kind, index, before, after
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
    counts = np.diff(np.append(starts, keys.size))
    packed = keys[starts]
    del keys
    sorted_rows, sorted_cols = rows[order], cols[order]
    del rows, cols, order
    tops, bottoms = np.minimum.reduceat(sorted_rows, starts), np.maximum.reduceat(sorted_rows, starts)
    lefts, rights = np.minimum.reduceat(sorted_cols, starts), np.maximum.reduceat(sorted_cols, starts)
    del sorted_rows, sorted_cols
    packed, to_after = np.divmod(packed, spans[2])
    packed, to_before = np.divmod(packed, spans[1])
    kinds, indices = np.divmod(packed, spans[0])
    groups = np.stack([kinds, indices - 1, to_before - 1, to_after - 1], axis=1)
    sources = (ChangeSource.LRO, ChangeSource.GRO, ChangeSource.FILL)
    records = []
    for group, (source_kind, source_index, from_class, to_class) in enumerate(groups.tolist()):
        source = sources[source_kind]
        if source is ChangeSource.LRO:
            evidence = float(lro_evidence[source_index])
        elif source is ChangeSource.GRO and gro_evidence is not None:
            evidence = float(gro_evidence[source_index])
        else:
            evidence = 0.0
        records.append(RegionChange(source, int(source_index), int(from_class), int(to_class), int(counts[group]),
                                    round(min(max(evidence, 0.0), 1.0), 4),
                                    (int(tops[group]), int(lefts[group]), int(bottoms[group]) + 1,
                                     int(rights[group]) + 1)))
    records.sort(key=lambda record: -record.pixels)
    return records


def risk(changes: list[RegionChange], pixels: int) -> float:
    """Share of the image changed against weak evidence: sum of pixels x (1 - evidence) / pixels, in [0, 1].

    A refinement that changed nothing, or only with full confidence, scores 0; one that repainted
    the whole image on a coin flip scores 0.5. The app's review queue sorts by it.
    """
    if pixels <= 0:
        return 0.0
    weak = sum(change.pixels * (1.0 - change.evidence) for change in changes)
    return round(float(weak / pixels), 6)

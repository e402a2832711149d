"""Options of the refinement, with the defaults chosen by measurement (docs/decisions/)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

Fallback = Literal["baseline", "ignore"]
ObjectMode = Literal["class", "component"]
GroProfile = Literal["fast", "paper", "off"]


@dataclass(frozen=True)
class LroConfig:
    """Local region optimizer options.

    object_mode: "class" refines one object per class (the paper); "component" one per connected
    component of a class, for scenes with many instances of a class.
    min_object_area: objects smaller than this many pixels keep their baseline pixels.
    iou_threshold: a refined object whose IoU with its baseline object is below this is rejected.
    fallback: what pixels refined away from an accepted object, and claimed by no other, become:
    "baseline" keeps their baseline class, "ignore" marks them for GRO voting and then fills them
    from the nearest labelled pixel.
    """

    enabled: bool = True
    object_mode: ObjectMode = "class"
    min_object_area: int = 64
    iou_threshold: float = 0.33  # measured in docs/decisions/0023 (0.4 before the baseline check guarded exact labels)
    min_lcm_contrast: float = 0.15
    fallback: Fallback = "baseline"
    cascade: bool = True


@dataclass(frozen=True)
class GroConfig:
    """Global region optimizer options; ``profile`` picks "fast", "paper" (the public script) or "off"."""

    profile: GroProfile = "fast"
    pred_iou_thresh: float = 0.86
    stability_score_thresh: float = 0.92
    box_nms_thresh: float = 0.7
    min_mask_region_area: int = 100
    # paper profile (SamAutomaticMaskGenerator as the public script sets it)
    points_per_side: int = 64
    crop_n_layers: int = 1
    crop_n_points_downscale_factor: int = 2
    # fast profile
    fast_points_per_side: int = 48
    boundary_band: float = 0.08  # keep grid points within this fraction of max(H, W) of a class edge
    max_prompts: int = 40  # decoded in batches of 8, points covered by kept masks skipped (docs/decisions/0019)
    min_vote_share: float = 0.55  # a mask paints only when its winner holds a strict majority of its votes
    max_mask_fraction: float = 0.5  # masks covering more of the image than this do not vote (1.0: the paper)
    # a region of another class with at least this share of its pixels inside a voting mask keeps its class
    # (None: off; docs/decisions/0017); regions under keep_min_area_fraction of the image are repainted anyway
    keep_whole_share: float | None = 0.5
    keep_min_area_fraction: float = 0.0025
    keep_feature_margin: float = 0.05  # ... and whose mean LCM of the winner is this much below the winner's own
    # ... or whose outline lies on image edges this many times the image's mean gradient (None: not used)
    keep_edge_strength: float | None = 6.0


@dataclass(frozen=True)
class PrecisionConfig:
    """The baseline-precision check (uosam_core/precision.py, docs/decisions/0021): an image keeps its
    baseline unless the refined class edges lie on image gradients ``min_edge_gain`` times as strong as
    the baseline's (``min_detail_edge_gain`` when the refinement adds edge contrast rather than
    simplifying the edges), and, where it redraws edges (draws at least ``redrawn_length_ratio`` times
    the edge length it removes), the edges it draws lie on gradients ``min_moved_edge_gain`` times as
    strong as those it removes (docs/decisions/0022)."""

    enabled: bool = True
    min_edge_gain: float = 1.02
    min_detail_edge_gain: float = 1.08
    min_moved_edge_gain: float = 1.62
    redrawn_length_ratio: float = 0.7


@dataclass(frozen=True)
class RefineConfig:
    """Everything that decides one image's refinement."""

    lro: LroConfig = field(default_factory=LroConfig)
    gro: GroConfig = field(default_factory=GroConfig)
    precision: PrecisionConfig = field(default_factory=PrecisionConfig)
    ignore_ids: tuple[int, ...] = (255,)
    background_ids: tuple[int, ...] = ()

    def to_dict(self) -> dict:
        """Plain-data form for JSON summaries."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> RefineConfig:
        """The config of :meth:`to_dict` data (after a JSON round trip: lists for tuples); fields it does
        not name keep their defaults. Raises TypeError or ValueError for data that is not such a config."""
        lro = LroConfig(**data.get("lro", {}))
        gro = GroConfig(**data.get("gro", {}))
        precision = PrecisionConfig(**data.get("precision", {}))
        ids = {name: tuple(int(value) for value in data[name]) for name in ("ignore_ids", "background_ids")
               if name in data}
        return cls(lro=lro, gro=gro, precision=precision, **ids)


def flat_settings(data: dict, prefix: str = "") -> dict[str, object]:
    """Nested settings data (a :meth:`RefineConfig.to_dict`, or a dict holding one under "config") as
    ``{"lro.iou_threshold": 0.4, ...}``, lists for tuples (as JSON has them)."""
    flat: dict[str, object] = {}
    for name, value in data.items():
        key = f"{prefix}{name}"
        if isinstance(value, dict):
            flat |= flat_settings(value, "" if key == "config" else f"{key}.")
        else:
            flat[key] = list(value) if isinstance(value, tuple) else value
    return flat


def settings_changes(old: dict, new: dict) -> list[str]:
    """``"name old -> new"`` for every setting that differs between two settings data, sorted by name."""
    before, after = flat_settings(old), flat_settings(new)
    return [f"{name} {before.get(name)} -> {after.get(name)}" for name in sorted(set(before) | set(after))
            if before.get(name) != after.get(name)]

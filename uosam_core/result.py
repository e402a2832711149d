"""The rich per-image result: final labels plus every intermediate the GUI shows.

Memory (docs/decisions/0008): masks are stored compact (:class:`~uosam_core.masks.CompactMask`: a box
and the bit-packed pixels inside it), LCMs on the encoder's feature grid
(:class:`~uosam_core.lcm.GridMap`), and the GRO's per-pixel vote maps are painted on first read.
The dense HxW arrays of the earlier API (``baseline_mask``, ``step2_mask``, ``lcm``, ``vote_class``,
...) are still there as properties that build a new full-resolution array on each read.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from .changes import RegionChange
from .lcm import GridMap
from .masks import CompactMask, MaskStack
from .precision import EdgeMap, PrecisionCheck
from .voting import vote_at, vote_maps

Point = tuple[float, float]  # (x, y) pixels
Box = tuple[float, float, float, float]  # XYXY pixels


@dataclass
class ObjectPrompts:
    """The prompts of one object's step-1 decode (editable in the GUI)."""

    positive: list[Point]
    negative: list[Point]
    box: Box | None


@dataclass
class ObjectResult:
    """One baseline object through the LRO: its LCM, prompts, step masks, scores and verdict.

    Stored compact: ``baseline`` / ``step1`` / ``step2`` masks and ``lcm_grid`` (rows x cols float32 on
    the feature grid). ``baseline_mask`` / ``step1_mask`` / ``step2_mask`` (HxW bool) and ``lcm``
    (HxW float32) build full-resolution copies on each read; on large images prefer the compact
    fields (``step2.crop()`` with ``step2.slices``, ``lcm_grid.values``).
    """

    index: int
    class_id: int
    baseline: CompactMask  # the baseline object
    lcm_grid: GridMap  # location confidence map on the feature grid, cosine similarity in [-1, 1]
    prompts: ObjectPrompts  # step-1 prompts: LCM max / min points and the LCC box
    step1: CompactMask  # best of the 3 step-1 masks
    step1_scores: np.ndarray  # (3,) float32 predicted IoU of the 3 step-1 masks
    step2_box: Box | None
    step2: CompactMask  # the refined object
    step2_score: float
    iou_with_baseline: float
    lcm_contrast: float  # mean LCM inside the baseline object minus mean LCM outside it
    accepted: bool  # the automatic verdict (IoU and LCM contrast over their thresholds)
    decision: str = "auto"  # "auto", "accept", "reject" (a user's override)
    edited: bool = False
    held_by_check: bool = False  # the image's baseline check holds the automatic verdict back (set by recompose)
    # 1x256x256 float32 low-res logits of the best step-1 mask, as decoded (the input of the cascade);
    # not kept in stored results (7/8 of a file's size, never read again): None after a reopen
    step1_logits: torch.Tensor | None = None

    @property
    def baseline_mask(self) -> np.ndarray:
        """HxW bool baseline object (a new array per read)."""
        return self.baseline.dense()

    @property
    def step1_mask(self) -> np.ndarray:
        """HxW bool best step-1 mask (a new array per read)."""
        return self.step1.dense()

    @property
    def step2_mask(self) -> np.ndarray:
        """HxW bool refined object (a new array per read)."""
        return self.step2.dense()

    @property
    def lcm(self) -> np.ndarray:
        """HxW float32 LCM at image resolution (bilinear from the grid; the last one read is cached)."""
        return self.lcm_grid.full()

    @property
    def area(self) -> int:
        """Baseline pixels of the object."""
        return self.baseline.area

    @property
    def uses_refined(self) -> bool:
        """Whether composition paints the refined mask (else the baseline object)."""
        return self.decision == "accept" or (self.decision == "auto" and self.accepted and not self.held_by_check)


class _VoteMap:
    """``GroResult.vote_class`` / ``vote_share``: given at construction, or painted from the masks on
    first read and kept (a descriptor-typed dataclass field)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = f"_{name}"

    def __get__(self, instance: GroResult | None, owner: type | None = None) -> np.ndarray | None:
        if instance is None:
            return None
        value = instance.__dict__.get(self.slot)
        if value is None:
            painted = dict(zip(("_vote_class", "_vote_share"), instance.paint_vote_maps()))
            for slot, array in painted.items():
                if instance.__dict__.get(slot) is None:
                    instance.__dict__[slot] = array
            value = instance.__dict__[self.slot]
        return value

    def __set__(self, instance: GroResult, value: np.ndarray | None) -> None:
        instance.__dict__[self.slot] = None if isinstance(value, _VoteMap) else value


@dataclass
class GroResult:
    """SAM masks of the whole image and their category votes.

    ``vote_class`` (HxW int32, -1 where no mask painted) and ``vote_share`` (HxW float32) are painted
    from the masks on first read and then kept; ``vote_at(x, y)`` answers one pixel without them.
    """

    profile: str
    masks: MaskStack  # M masks, compact, sorted largest first (the painting order); an M x H x W bool array is taken
    mask_scores: np.ndarray  # (M,) predicted IoU
    mask_classes: np.ndarray  # (M,) winning class of each mask (-1: no vote)
    mask_shares: np.ndarray  # (M,) vote share of the winner
    prompt_count: int
    encode_count: int
    mask_painted: np.ndarray | None = None  # (M,) bool: whether the mask painted its class (None: none did)
    vote_class: np.ndarray | None = field(default=_VoteMap(), repr=False, compare=False)  # type: ignore[assignment]
    vote_share: np.ndarray | None = field(default=_VoteMap(), repr=False, compare=False)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if isinstance(self.masks, np.ndarray):
            self.masks = MaskStack.from_dense(self.masks)
        if self.mask_painted is None:
            self.mask_painted = np.zeros(len(self.masks), bool)

    def paint_vote_maps(self) -> tuple[np.ndarray, np.ndarray]:
        """(vote_class HxW int32, vote_share HxW float32) painted from the masks, largest first."""
        return vote_maps(self.masks, self.mask_classes, self.mask_shares, self.mask_painted)

    def vote_at(self, x: int, y: int) -> tuple[int, float]:
        """(class, share) of the last mask painted over pixel (x, y); (-1, 0.0) where none did."""
        return vote_at(self.masks, self.mask_classes, self.mask_shares, self.mask_painted, x, y)


@dataclass
class RefineResult:
    """Everything one image's refinement produced."""

    baseline: np.ndarray  # HxW int32 input labels (never modified)
    objects: list[ObjectResult]
    lro_labels: np.ndarray  # HxW int32 after the LRO
    gro: GroResult | None
    labels: np.ndarray  # HxW int32 final labels
    timings: dict[str, float] = field(default_factory=dict)
    changes: list[RegionChange] = field(default_factory=list)  # why each changed region changed, largest first
    risk: float = 0.0  # share of the image changed against weak evidence (changes.risk), in [0, 1]
    precision: PrecisionCheck | None = None  # the baseline check of the automatic refinement
    edge_map: EdgeMap | None = None  # the image's edge strength (<= 1024 px): the check and the GRO's kept regions
    refine_anyway: bool = False  # a user chose the refinement over a failed check
    baseline_kept: bool = False  # the check holds the refinement back: only objects a user accepted are used, no GRO

    @property
    def changed_fraction(self) -> float:
        """Share of pixels whose class differs from the baseline."""
        return float((self.labels != self.baseline).mean())

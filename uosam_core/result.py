"""The rich per-image result: final labels plus every intermediate the GUI shows."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

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
    """One baseline object through the LRO: its LCM, prompts, step masks, scores and verdict."""

    index: int
    class_id: int
    baseline_mask: np.ndarray  # HxW bool
    lcm: np.ndarray  # HxW float32 location confidence map, cosine similarity in [-1, 1]
    prompts: ObjectPrompts  # step-1 prompts: LCM max / min points and the LCC box
    step1_mask: np.ndarray  # HxW bool, best of the 3 step-1 masks
    step1_scores: np.ndarray  # (3,) predicted IoU of the 3 step-1 masks
    step1_logits: torch.Tensor  # 1x256x256 low-res logits of the best step-1 mask
    step2_box: Box | None
    step2_mask: np.ndarray  # HxW bool, the refined object
    step2_score: float
    iou_with_baseline: float
    lcm_contrast: float  # mean LCM inside the baseline object minus mean LCM outside it
    accepted: bool  # the automatic verdict (IoU and LCM contrast over their thresholds)
    decision: str = "auto"  # "auto", "accept", "reject" (a user's override)
    edited: bool = False

    @property
    def area(self) -> int:
        """Baseline pixels of the object."""
        return int(self.baseline_mask.sum())

    @property
    def uses_refined(self) -> bool:
        """Whether composition paints the refined mask (else the baseline object)."""
        return self.decision == "accept" or (self.decision == "auto" and self.accepted)


@dataclass
class GroResult:
    """SAM masks of the whole image and their category votes."""

    profile: str
    masks: np.ndarray  # M x H x W bool, sorted largest first (the painting order)
    mask_scores: np.ndarray  # (M,) predicted IoU
    mask_classes: np.ndarray  # (M,) winning class of each mask (-1: no vote)
    mask_shares: np.ndarray  # (M,) vote share of the winner
    vote_class: np.ndarray  # HxW int32 winning class per pixel (-1 where no mask)
    vote_share: np.ndarray  # HxW float32 vote share of that class
    prompt_count: int
    encode_count: int


@dataclass
class RefineResult:
    """Everything one image's refinement produced."""

    baseline: np.ndarray  # HxW int32 input labels (never modified)
    objects: list[ObjectResult]
    lro_labels: np.ndarray  # HxW int32 after the LRO
    gro: GroResult | None
    labels: np.ndarray  # HxW int32 final labels
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def changed_fraction(self) -> float:
        """Share of pixels whose class differs from the baseline."""
        return float((self.labels != self.baseline).mean())

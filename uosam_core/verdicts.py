"""Why an object uses its refined mask or keeps its baseline: the LRO verdict in words.

The automatic verdict (``ObjectResult.accepted``) is made by :func:`uosam_core.lro.verdict` from two
checks, the refined mask's IoU with its baseline object and the object's LCM contrast, each against
its threshold in :class:`~uosam_core.config.LroConfig`. :func:`explain` names which check decided,
with the numbers, and says when the user overrode it. Qt-free; the app only shows ``Verdict.text``.

>>> from types import SimpleNamespace
>>> obj = SimpleNamespace(iou_with_baseline=0.82, lcm_contrast=0.31, accepted=True, decision="auto",
...                       held_by_check=False)
>>> explain(obj, LroConfig()).text
'accepted: IoU 0.82 >= 0.40, LCM contrast 0.31 >= 0.15'
>>> obj = SimpleNamespace(iou_with_baseline=0.77, lcm_contrast=0.10, accepted=False, decision="auto",
...                       held_by_check=False)
>>> explain(obj, LroConfig()).text
'kept baseline: LCM contrast 0.10 < 0.15'
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from .config import LroConfig


class VerdictCode(Enum):
    """Which rule decided an object (values are short labels for tables)."""

    ACCEPTED = "accepted"  # both checks passed: the refined mask is used
    LOW_IOU = "low IoU"  # the refined mask disagrees with its baseline object: baseline kept
    LOW_CONTRAST = "low LCM contrast"  # the object's features are not distinct from the rest: baseline kept
    LOW_IOU_AND_CONTRAST = "low IoU and LCM contrast"
    REJECTED_OTHER = "rejected"  # kept baseline by a check this module does not know (both checks pass)
    HELD = "image kept its baseline"  # both checks passed, but the image's baseline check held it back
    USER_ACCEPTED = "accepted by you"
    USER_REJECTED = "rejected by you"


class Judged(Protocol):
    """What :func:`explain` reads of an object (an ``ObjectResult`` has it)."""

    iou_with_baseline: float
    lcm_contrast: float
    accepted: bool
    decision: str
    held_by_check: bool


@dataclass(frozen=True)
class Check:
    """One verdict check: its name, the object's value and the threshold it must reach."""

    name: str
    value: float
    threshold: float

    @property
    def passed(self) -> bool:
        return self.value >= self.threshold

    def describe(self) -> str:
        """``"IoU 0.82 >= 0.40"``; more decimals when two decimals would print ``0.40 < 0.40``."""
        digits = 2
        while digits < 5 and f"{self.value:.{digits}f}" == f"{self.threshold:.{digits}f}" and not self.passed:
            digits += 1
        sign = ">=" if self.passed else "<"
        return f"{self.name} {self.value:.{digits}f} {sign} {self.threshold:.{digits}f}"


@dataclass(frozen=True)
class Verdict:
    """An object's verdict: ``code`` (the rule), ``text`` (one line for a user), ``uses_refined``
    (whether composition paints the refined mask) and ``automatic`` (the verdict before any override)."""

    code: VerdictCode
    text: str
    uses_refined: bool
    automatic: VerdictCode


def checks(obj: Judged, config: LroConfig) -> tuple[Check, Check]:
    """The two checks of the automatic verdict: IoU with the baseline, LCM contrast."""
    return (Check("IoU", float(obj.iou_with_baseline), float(config.iou_threshold)),
            Check("LCM contrast", float(obj.lcm_contrast), float(config.min_lcm_contrast)))


def _automatic(obj: Judged, config: LroConfig) -> tuple[VerdictCode, str]:
    iou, contrast = checks(obj, config)
    failed = [check for check in (iou, contrast) if not check.passed]
    if obj.accepted:
        text = ", ".join(check.describe() for check in (iou, contrast))
        if failed:  # judged under other thresholds than these
            text += " (judged with other thresholds; refine again to apply these)"
        if getattr(obj, "held_by_check", False):
            return VerdictCode.HELD, ("kept baseline: the image kept its baseline (refining would not sharpen its "
                                      f"edges; Edit > Use the refinement); the object passed {text}")
        return VerdictCode.ACCEPTED, "accepted: " + text
    if not failed:
        return VerdictCode.REJECTED_OTHER, ("kept baseline: rejected by the LRO although "
                                            + ", ".join(check.describe() for check in (iou, contrast)))
    code = {(True, False): VerdictCode.LOW_IOU, (False, True): VerdictCode.LOW_CONTRAST,
            (True, True): VerdictCode.LOW_IOU_AND_CONTRAST}[(not iou.passed, not contrast.passed)]
    return code, "kept baseline: " + ", ".join(check.describe() for check in failed)


def explain(obj: Judged, config: LroConfig) -> Verdict:
    """The verdict of one object under ``config`` (the thresholds it was refined with), with the
    user's override (``decision`` "accept" / "reject") on top of the automatic one."""
    automatic, reason = _automatic(obj, config)
    decision = getattr(obj.decision, "value", obj.decision)  # the text, also when decisions become an enum
    if decision == "accept":
        return Verdict(VerdictCode.USER_ACCEPTED, f"accepted by you (automatic: {reason})", True, automatic)
    if decision == "reject":
        return Verdict(VerdictCode.USER_REJECTED, f"rejected by you: baseline kept (automatic: {reason})", False,
                       automatic)
    return Verdict(automatic, reason, automatic == VerdictCode.ACCEPTED, automatic)

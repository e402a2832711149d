"""One image under review: its refinement result, the user's decisions and pixel edits, and undo.

Qt-free. The document never decodes: a re-decoded object comes in from the worker as a finished
:class:`ObjectResult` (``apply_redecoded``); everything else (decisions, class changes, brush,
eraser, fill, undo) is cheap and runs where it is called. Final labels = the core's recomposed
labels with the pixel edits on top.

Class changes: an object's class applies to whatever pixels the object contributes. A used object
(accepted, or auto-accepted) contributes its refined mask, which the core paints with its class. An
object that keeps its baseline (rejected, or auto-rejected) contributes its baseline pixels that no
used object claims; :meth:`ImageDocument.recompose` gives those the new class, before the GRO vote,
so overlay, legend, saved PNG and export log all agree.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from uosam_core.image_io import LabelFormat
from uosam_core.pipeline import Refiner
from uosam_core.result import ObjectPrompts, ObjectResult, RefineResult

NO_EDIT = -1
DECISIONS = ("auto", "accept", "reject")


@dataclass(frozen=True)
class ObjectsChange:
    """An undoable change of the object list (decision, class, or re-decoded prompts)."""

    description: str
    before: tuple[ObjectResult, ...]
    after: tuple[ObjectResult, ...]


@dataclass(frozen=True)
class PixelChange:
    """An undoable pixel edit, stored as a diff: the touched rows/cols and the values before/after."""

    description: str
    rows: slice
    cols: slice
    before: np.ndarray
    after: np.ndarray


@dataclass(frozen=True)
class RefinementChoice:
    """An undoable choice between a failed baseline check's kept baseline and the refinement."""

    description: str
    before: bool  # RefineResult.refine_anyway before
    after: bool


Change = ObjectsChange | PixelChange | RefinementChoice


def take_composition(result: RefineResult, composed: RefineResult) -> None:
    """Give ``result`` what a recomposition of it made: the LRO map, the GRO votes, the final labels and
    the change records with their risk (the status bar and the file list show the risk)."""
    result.lro_labels, result.gro, result.labels = composed.lro_labels, composed.gro, composed.labels
    result.changes, result.risk, result.baseline_kept = composed.changes, composed.risk, composed.baseline_kept


class ImageDocument:
    """The reviewable state of one image; ``labels`` is what is shown, saved and exported."""

    def __init__(self, key: str, image: np.ndarray, result: RefineResult, label_format: LabelFormat,
                 refiner: Refiner, label_path: Path | None = None) -> None:
        self.key = key
        self.image = image
        self.result = result
        self.label_format = label_format
        self.refiner = refiner
        self.label_path = label_path
        self.original_classes = tuple(obj.class_id for obj in result.objects)
        self.pixel_edits = np.full(result.baseline.shape, NO_EDIT, np.int32)
        self.undo_stack: list[Change] = []
        self.redo_stack: list[Change] = []
        self.revision = 0  # bumped on every change
        self.pixel_revision = 0  # bumped on every pixel change (the session rewrites edits only then)
        self.edits_on_disk: tuple[str, int] | None = None  # (edits file, pixel revision) known to be on disk
        self.notices: list[str] = []  # lines for the user from restoring the document (e.g. edits set aside)
        self.store_notices: list[str] = []  # lines about the stored result (stale, not stored): past once shown

    # ------------------------------------------------------------------ reading
    @property
    def objects(self) -> list[ObjectResult]:
        """The objects in their current state."""
        return self.result.objects

    @property
    def labels(self) -> np.ndarray:
        """Final labels: the recomposed refinement with the pixel edits painted over it."""
        edited = self.pixel_edits != NO_EDIT
        if not edited.any():
            return self.result.labels
        labels = self.result.labels.copy()
        labels[edited] = self.pixel_edits[edited]
        return labels

    @property
    def is_edited(self) -> bool:
        """Whether the user changed anything (decision, class, prompts, pixels, the refinement over a kept
        baseline)."""
        return bool((self.pixel_edits != NO_EDIT).any()) or self.result.refine_anyway or any(
            _changed(obj, original) for obj, original in zip(self.objects, self.original_classes))

    def recompose(self) -> None:
        """Rebuild the LRO map and final labels from the objects (the core's composition and vote).

        A baseline-kept object whose class the user changed repaints its own baseline pixels first: the
        core composes over a copy of the baseline in which those pixels carry the new class, so used
        objects still claim what they cover (``result.baseline`` itself is never modified).
        """
        result = self.result
        relabelled = [obj for obj, original in zip(result.objects, self.original_classes)
                      if not obj.uses_refined and obj.class_id != original]
        if not relabelled:
            self.refiner.recompose(result)
            return
        effective = result.baseline.copy()
        for obj in relabelled:
            obj.baseline.paint(effective, obj.class_id)  # inside the object's box only
        take_composition(result, self.refiner.recompose(replace(result, baseline=effective)))

    def rejudge(self, refiner: Refiner) -> None:
        """Use ``refiner`` (the same refinement settings, other baseline-check bars): the check's
        measurements are held against its bars and the image recomposed; decisions and edits stay."""
        self.refiner = refiner
        refiner.judge(self.result)
        self.recompose()
        self.revision += 1

    # ------------------------------------------------------------------ object changes
    def _change_objects(self, description: str, index: int, new_object: ObjectResult) -> None:
        before = tuple(self.objects)
        after = list(before)
        after[index] = new_object
        self._apply(ObjectsChange(description, before, tuple(after)))

    def set_decision(self, index: int, decision: str) -> None:
        """Accept (use the refined mask), reject (keep the baseline object) or return to the automatic verdict."""
        if decision not in DECISIONS:
            raise ValueError(f"decision must be one of {DECISIONS}, got {decision!r}")
        if self.objects[index].decision != decision:
            self._change_objects(f"{decision} object {index}", index, replace(self.objects[index], decision=decision))

    def use_refinement(self, use: bool = True) -> bool:
        """On an image whose baseline check failed, compose the automatic refinement after all (or, with
        ``use=False``, hold it back again); undoable. Returns whether anything changed."""
        if not self.refiner.check_keeps_baseline(self.result) or self.result.refine_anyway == use:
            return False
        self._apply(RefinementChoice("use the refinement (the baseline was kept)" if use else
                                     "keep the baseline (the baseline check)", not use, use))
        return True

    def set_class(self, index: int, class_id: int) -> None:
        """Give an object another class: the pixels it contributes take it (its refined mask when used,
        else its baseline pixels that no used object claims; see :meth:`recompose`)."""
        if self.objects[index].class_id != class_id:
            self._change_objects(f"class of object {index} -> {class_id}", index,
                                 replace(self.objects[index], class_id=int(class_id)))

    def apply_redecoded(self, index: int, new_object: ObjectResult) -> None:
        """Take a re-decoded object (from edited prompts); keeps the object's decision and class."""
        current = self.objects[index]
        new_object = replace(new_object, decision=current.decision, class_id=current.class_id, edited=True)
        self._change_objects(f"prompts of object {index}", index, new_object)

    # ------------------------------------------------------------------ pixel tools
    def paint(self, mask: np.ndarray, class_id: int, description: str = "brush") -> bool:
        """Write ``class_id`` into every pixel of ``mask`` (HxW bool); returns whether anything changed."""
        if mask.shape != self.pixel_edits.shape:
            raise ValueError(f"stroke mask {mask.shape} does not match the image {self.pixel_edits.shape}")
        rows, cols = np.nonzero(mask)
        if rows.size == 0:
            return False
        window = (slice(int(rows.min()), int(rows.max()) + 1), slice(int(cols.min()), int(cols.max()) + 1))
        before = self.pixel_edits[window].copy()
        after = before.copy()
        after[mask[window]] = class_id
        if np.array_equal(before, after):
            return False
        self._apply(PixelChange(description, window[0], window[1], before, after))
        return True

    def fill(self, x: int, y: int, class_id: int) -> bool:
        """Flood-fill the 4-connected region of (x, y)'s current class with ``class_id``."""
        labels = self.labels
        height, width = labels.shape
        if not (0 <= x < width and 0 <= y < height):
            return False
        region = np.zeros((height + 2, width + 2), np.uint8)
        same = (labels == labels[y, x]).astype(np.uint8)
        cv2.floodFill(same, region, (int(x), int(y)), 2, loDiff=0, upDiff=0, flags=4 | cv2.FLOODFILL_MASK_ONLY)
        return self.paint(region[1:-1, 1:-1].astype(bool), class_id, description="fill")

    # ------------------------------------------------------------------ undo
    def _apply(self, change: Change, *, record: bool = True) -> None:
        self._set(change, forward=True)
        if record:
            self.undo_stack.append(change)
            self.redo_stack.clear()

    def _set(self, change: Change, *, forward: bool) -> None:
        if isinstance(change, ObjectsChange):
            self.result.objects = list(change.after if forward else change.before)
            self.recompose()
        elif isinstance(change, RefinementChoice):
            self.result.refine_anyway = change.after if forward else change.before
            self.recompose()
        else:
            self.pixel_edits[change.rows, change.cols] = change.after if forward else change.before
            self.pixel_revision += 1
        self.revision += 1

    def _step(self, source: list[Change], target: list[Change], *, forward: bool) -> str | None:
        if not source:
            return None
        change = source.pop()
        self._set(change, forward=forward)
        target.append(change)
        return change.description

    def undo(self) -> str | None:
        """Undo the last change; returns its description (None when there is nothing to undo)."""
        return self._step(self.undo_stack, self.redo_stack, forward=False)

    def redo(self) -> str | None:
        """Redo the last undone change; returns its description."""
        return self._step(self.redo_stack, self.undo_stack, forward=True)

    # ------------------------------------------------------------------ persistence
    def object_records(self) -> dict[str, dict]:
        """Per changed object: decision, class and (if edited) prompts, keyed by object index."""
        records = {}
        for obj, original in zip(self.objects, self.original_classes):
            if not _changed(obj, original):
                continue
            records[str(obj.index)] = {
                "baseline_class": original, "class_id": obj.class_id, "decision": obj.decision,
                "prompts": prompts_to_dict(obj.prompts) if obj.edited else None,
            }
        return records


def _changed(obj: ObjectResult, original_class: int) -> bool:
    """Whether the user changed an object: its decision, its prompts or its class."""
    return obj.decision != "auto" or obj.edited or obj.class_id != original_class


def prompts_to_dict(prompts: ObjectPrompts) -> dict:
    """JSON form of an object's prompts."""
    return {"positive": [list(map(float, p)) for p in prompts.positive],
            "negative": [list(map(float, p)) for p in prompts.negative],
            "box": None if prompts.box is None else [float(v) for v in prompts.box]}


def prompts_from_dict(data: dict) -> ObjectPrompts:
    """Prompts from their JSON form."""
    return ObjectPrompts(positive=[tuple(p) for p in data.get("positive", [])],
                         negative=[tuple(p) for p in data.get("negative", [])],
                         box=None if data.get("box") is None else tuple(data["box"]))

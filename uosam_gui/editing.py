"""Edits of the shown document: decisions, classes, prompts (decoded again in the worker), brush,
eraser, fill, undo and redo, picking an object on the canvas, and the hover read-out."""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Signal

from uosam_core.result import ObjectPrompts

from . import layers
from .controller import RefineController
from .notifications import Level, Notifier
from .review import Reviewer
from .review_state import ReviewState, Tool


class Editor(QObject):
    """Applies the user's edits to the state's document; the Reviewer saves them."""

    hoverText = Signal(str)

    def __init__(self, state: ReviewState, controller: RefineController, notifier: Notifier,
                 reviewer: Reviewer) -> None:
        super().__init__(reviewer)
        self.state, self.controller, self.notifier, self.reviewer = state, controller, notifier, reviewer
        controller.redecoded.connect(self._on_redecoded)
        self._hovered = (-1, -1)  # the pixel under the pointer; its read-out follows every edit
        state.contentChanged.connect(lambda: self.hover(*self._hovered))
        state.classesChanged.connect(lambda: self.hover(*self._hovered))

    # ---------------------------------------------------------------- objects
    def decide(self, decision: str, index: int | None = None) -> None:
        """Accept, reject or return an object to the automatic verdict (undoable)."""
        document = self.state.document
        index = self.state.selected if index is None else index
        if document is None or not 0 <= index < len(document.objects):
            return
        document.set_decision(index, decision)
        self.reviewer.document_changed()

    def use_refinement(self, use: bool = True) -> None:
        """Show the refinement on an image whose baseline check kept the baseline (``use=False``: keep
        the baseline again); undoable."""
        document = self.state.document
        if document is not None and document.use_refinement(bool(use)):
            self.reviewer.document_changed()
            self.notifier.notify("the refinement is shown instead of the kept baseline (undo returns to it)" if use
                                 else "the baseline the check kept is shown again", Level.INFO)

    def change_class(self, index: int, class_id: int) -> None:
        """Give an object another class (undoable)."""
        if self.state.document is not None and 0 <= index < len(self.state.document.objects):
            self.state.document.set_class(index, class_id)
            self.reviewer.document_changed()

    def edit_prompts(self, prompts: ObjectPrompts) -> None:
        """The user moved, added or removed a prompt: decode that object again in the worker."""
        document, index = self.state.document, self.state.selected
        if document is None or index < 0:
            return
        if not prompts.positive and prompts.box is None:
            self.notifier.notify("an object needs at least one positive point or a box", Level.ERROR)
            return
        self.controller.redecode(document, index, prompts)

    def _on_redecoded(self, key: str, index: int, seconds: float) -> None:
        document = self.state.document
        if document is None or key != document.key:
            other = self.controller.documents.get(key)
            if other is not None and self.state.session is not None:
                self.reviewer.record(other)
            return
        self.reviewer.document_changed()
        obj = document.objects[index]
        self.notifier.notify(f"object {index} decoded again in {1000 * seconds:.0f} ms: IoU with baseline "
                             f"{obj.iou_with_baseline:.2f}, {'refined' if obj.uses_refined else 'baseline'} used")

    def pick(self, x: int, y: int) -> None:
        """Prompt tool: select the object under (x, y) (its used mask, smallest first). Called with nothing
        selected, or for a left click outside the selected object's box; a click there on no other object
        changes nothing and says how to add a point (inside the box)."""
        document = self.state.document
        if document is None:
            return
        def compact(obj, refined: bool):  # the core's compact mask, or the dense one of an older core
            return getattr(obj, "step2" if refined else "baseline", None) or (
                obj.step2_mask if refined else obj.baseline_mask)

        index = layers.object_at([compact(obj, obj.uses_refined) for obj in document.objects], x, y)
        if index < 0:
            index = layers.object_at([compact(obj, False) for obj in document.objects], x, y)
        if self.state.selected >= 0 and index in (-1, self.state.selected):
            self.notifier.notify("outside the box: a click selects another object; to add a point, click "
                                 "inside the box (drag its corners to make it larger)")
            return
        self.state.select(index)

    # ---------------------------------------------------------------- pixels
    def stroke(self, mask, tool: Tool) -> None:
        """A finished brush or eraser stroke (HxW bool mask), painted in the next event-loop turn (the
        release of the mouse is answered first; on a large image each step takes tens of milliseconds)."""
        document = self.state.document
        QTimer.singleShot(0, lambda: self._paint(document, mask, tool))

    def _paint(self, document, mask, tool: Tool) -> None:
        classes = self.state.classes
        if document is None or classes is None or document is not self.state.document:
            return
        class_id = classes.ignore_ids[0] if tool == Tool.ERASER else self.state.paint_class
        if document.paint(mask, class_id, description=tool.value):
            # the redraw is the next event-loop turn's work: on a large image painting and redrawing
            # each take tens of milliseconds, and the window answers in between
            QTimer.singleShot(0, self.reviewer.document_changed)

    def fill(self, x: int, y: int) -> None:
        """Flood-fill the clicked region with the paint class."""
        document = self.state.document
        if document is not None and document.fill(x, y, self.state.paint_class):
            self.reviewer.document_changed()

    def undo(self) -> None:
        """Undo the last decision, prompt edit or stroke of this image."""
        self._step_history("undo", "undid")

    def redo(self) -> None:
        """Redo the last undone change."""
        self._step_history("redo", "redid")

    def _step_history(self, direction: str, verb: str) -> None:
        document = self.state.document
        if document is not None:
            description = getattr(document, direction)()
            if description:
                self.reviewer.document_changed()
                self.notifier.notify(f"{verb} {description}")

    # ---------------------------------------------------------------- hover
    def hover(self, x: int, y: int) -> None:
        """Name the hovered pixel's class, its baseline class and vote share (copies no array)."""
        self._hovered = (x, y)
        document, classes = self.state.document, self.state.classes
        if document is None or classes is None or x < 0:
            self.hoverText.emit("")
            return
        result = document.result
        final = layers.value_at(result.labels, document.pixel_edits, x, y)
        base = int(result.baseline[y, x])
        text = f"x {x}, y {y}: {classes.name(final)}"
        if base != final:
            text += f" (baseline {classes.name(base)})"
        if result.gro is not None:
            if hasattr(result.gro, "vote_at"):  # one pixel, without painting the vote maps
                vote_class, share = result.gro.vote_at(x, y)
            else:
                vote_class, share = result.gro.vote_class[y, x], result.gro.vote_share[y, x]
            if vote_class >= 0:
                text += f", vote share {share:.2f}"
        self.hoverText.emit(text)

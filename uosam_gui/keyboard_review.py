"""Keyboard review: walk the objects with J / K, accept or reject and go on (into the next image after
the last object), zoom to the selected object, the split view, the help page and the shown image's
risk figure. Adds its actions to the window's menus; the state stays in the :class:`ReviewState`.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum

from PySide6.QtCore import QObject, QRectF, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QLabel, QMainWindow, QMenu

from uosam_core.config import LroConfig

from . import layers
from .actions import SHORTCUTS as WINDOW_SHORTCUTS
from .file_panel import risk_text
from .help_page import show_help_page
from .notifications import Level
from .review_state import Heatmap
from .split_view import SplitView

SHORTCUTS = (
    ("J / K", "next / previous object; after the last object the next image opens with its first object "
              "selected (K before the first: the previous image's last object)"),
    ("Shift+A / Shift+R", "accept / reject the selected object and go to the next one (and image)"),
    ("Z", "zoom to the selected object (on / off); while on, the view follows J / K"),
    ("S", "split view: baseline left, final labels right of a divider you drag (on / off)"),
)
ZOOM_MARGIN = 0.1  # share of the object's larger side shown around it
MIN_ZOOM_SIDE = 48  # image pixels: a tiny object is not blown up beyond this
RISK_TOOLTIP_CHANGES = 6  # change records listed in the risk figure's tooltip


class Where(Enum):
    """Which object to select in an image opened by walking past the last / first object."""

    FIRST = 0
    LAST = -1


def find_menu(window: QMainWindow, title: str) -> QMenu | None:
    """The menu bar's menu titled ``title`` (``&`` ignored), or None."""
    for action in window.menuBar().actions():
        menu = action.menu()
        if menu is not None and menu.title().replace("&", "") == title:
            return menu
    return None


def object_box(obj, shape: tuple[int, int]) -> QRectF | None:
    """The view rectangle around an object (image pixels): its refined mask and its prompt box (the
    baseline's largest component, where its points are) with a margin, at least ``MIN_ZOOM_SIDE`` wide
    and high, inside the HxW image. Baseline fragments elsewhere in the image are left out: a class
    scattered over the image would otherwise zoom to the whole image."""
    prompt_box = obj.prompts.box if obj.prompts is not None else None
    boxes = [box for box in (layers.mask_box(obj.step2), prompt_box) if box is not None]
    if not boxes:
        boxes = [box for box in (layers.mask_box(obj.baseline),) if box is not None]
    if not boxes:
        return None
    x0, y0 = min(b[0] for b in boxes), min(b[1] for b in boxes)
    x1, y1 = max(b[2] for b in boxes), max(b[3] for b in boxes)
    margin = ZOOM_MARGIN * max(x1 - x0, y1 - y0)
    width, height = max(x1 - x0 + 2 * margin, MIN_ZOOM_SIDE), max(y1 - y0 + 2 * margin, MIN_ZOOM_SIDE)
    rect = QRectF((x0 + x1 - width) / 2, (y0 + y1 - height) / 2, width, height)
    return rect.intersected(QRectF(0, 0, shape[1], shape[0]))


class KeyboardReview(QObject):
    """The keyboard-review actions of a :class:`~uosam_gui.main_window.MainWindow`."""

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window, self.state, self.reviewer = window, window.state, window.reviewer
        self.editor, self.canvas = window.editor, window.canvas
        self.split = SplitView(self.state, self.canvas)
        self._pending: tuple[str, Where] | None = None  # (image key, object) to select when it is shown
        edit_menu, view_menu, help_menu = (find_menu(window, name) for name in ("Edit", "View", "Help"))
        if edit_menu is not None:
            edit_menu.addSeparator()
        self.next_object = self._add("Next object", lambda: self.step_object(1), "J", edit_menu)
        self.previous_object = self._add("Previous object", lambda: self.step_object(-1), "K", edit_menu)
        self.accept_next = self._add("Accept and next", lambda: self.decide_and_next("accept"), "Shift+A",
                                     edit_menu)
        self.reject_next = self._add("Reject and next", lambda: self.decide_and_next("reject"), "Shift+R",
                                     edit_menu)
        self.use_refinement = self._add("Use the refinement (the baseline check kept the baseline)",
                                        self.editor.use_refinement, None, edit_menu, checkable=True)
        self.zoom = self._add("Zoom to the selected object", self.set_zoom, "Z", view_menu, checkable=True)
        self._heatmap_before_split: Heatmap | None = None  # the heatmap the split view turned off
        self.split_action = self._add("Split view: baseline | final", self.set_split, "S", view_menu,
                                      checkable=True)
        self.split.toggled.connect(self.split_action.setChecked)
        self.first_steps = self._add("Getting started", lambda: self.show_help("first-steps"), None, help_menu)
        self.risk_label = QLabel("")
        window.statusBar().addPermanentWidget(self.risk_label)
        window.object_panel.lro_config = self.lro_config
        self.state.documentChanged.connect(self._on_document)
        self.state.contentChanged.connect(self._show_risk)  # a decision or edit recomposes: risk changes
        self.state.contentChanged.connect(self.update_actions)  # ... and may show the refinement of a kept image
        self.state.selectionChanged.connect(self._on_selection)
        for signal in (self.state.documentChanged, self.state.sessionChanged, self.state.selectionChanged):
            signal.connect(self.update_actions)
        self.update_actions()

    def _add(self, text: str, slot: Callable, shortcut: str | None, menu: QMenu | None,
             checkable: bool = False) -> QAction:
        action = QAction(text, self.window)
        action.setCheckable(checkable)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        (action.toggled if checkable else action.triggered).connect(slot)
        self.window.addAction(action)
        if menu is not None:
            menu.addAction(action)
        return action

    def update_actions(self, *_) -> None:
        """Walking needs an open session; deciding needs a selected object."""
        has_session = self.state.session is not None
        for action in (self.next_object, self.previous_object):
            action.setEnabled(has_session)
        for action in (self.accept_next, self.reject_next):
            action.setEnabled(self.state.selected_object is not None)
        document = self.state.document
        result = getattr(document, "result", None)
        self.use_refinement.setEnabled(document is not None and document.refiner.check_keeps_baseline(result))
        self.use_refinement.blockSignals(True)  # showing the state is not choosing it
        self.use_refinement.setChecked(bool(getattr(result, "refine_anyway", False)))
        self.use_refinement.blockSignals(False)

    def lro_config(self) -> LroConfig:
        """The thresholds the shown document's objects were judged with."""
        document = self.state.document
        refiner = getattr(document, "refiner", None) if document is not None else None
        return refiner.config.lro if refiner is not None else self.window.controller.model.config.lro

    # ---------------------------------------------------------------- walking
    def step_object(self, step: int) -> None:
        """Select the next (1) or previous (-1) object; past the last / first, open the next / previous
        image and select its first / last object once it is shown."""
        state = self.state
        if state.session is None:
            return
        document = state.document
        if document is not None and document.objects:
            index = state.selected
            target = (0 if step > 0 else len(document.objects) - 1) if index < 0 else index + step
            if 0 <= target < len(document.objects):
                state.select(target)
                return
        self._step_image(step)

    def decide_and_next(self, decision: str) -> None:
        """Accept or reject the selected object, then go to the next object."""
        if self.state.selected_object is None:
            return
        self.editor.decide(decision)
        self.step_object(1)

    def _step_image(self, step: int) -> None:
        session = self.state.session
        keys = self.reviewer.visible_keys()
        if not keys:
            return
        position = keys.index(session.current) if session.current in keys else -1
        if (step > 0 and position == len(keys) - 1) or (step < 0 and position == 0):
            self.reviewer.notifier.notify("last image of the list: back to the first" if step > 0 else
                                          "first image of the list: on to the last", Level.INFO)
        self._pending = None
        self.reviewer.step_image(step)
        if session.current is not None:
            self._pending = (session.current, Where.FIRST if step > 0 else Where.LAST)
        self._select_pending()

    def _on_document(self) -> None:
        # after the state's own "nothing selected" for the new document has reached every follower
        QTimer.singleShot(0, self._select_pending)
        self._show_risk()

    def _select_pending(self) -> None:
        document, pending = self.state.document, self._pending
        if pending is None or document is None:
            return
        self._pending = None
        if document.key != pending[0] or not document.objects:
            return
        self.state.select(0 if pending[1] == Where.FIRST else len(document.objects) - 1)

    # ---------------------------------------------------------------- split view
    def set_split(self, on: bool) -> None:
        """Turn the split view on or off. It turns the heatmap off (and says so); turning it off brings
        that heatmap back unless the user chose another meanwhile."""
        on = bool(on)
        if on == self.split.enabled:
            return
        heatmap = self.state.heatmap
        self.split.set_enabled(on)
        if on:
            self._heatmap_before_split = heatmap if heatmap != Heatmap.NONE else None
            if self._heatmap_before_split is not None:
                self.reviewer.notifier.notify(f"split view: heatmap '{heatmap.value}' hidden (it comes back when "
                                              "the split view is turned off)", Level.INFO)
            return
        before, self._heatmap_before_split = self._heatmap_before_split, None
        if before is not None and self.state.heatmap == Heatmap.NONE:
            self.state.set_heatmap(before)
            self.reviewer.notifier.notify(f"split view off: heatmap '{before.value}' shown again", Level.INFO)

    # ---------------------------------------------------------------- zoom
    def set_zoom(self, on: bool) -> None:
        """Zoom to the selected object (and follow the selection) or back to the whole image."""
        if on:
            self.zoom_to_selected()
        else:
            self.canvas.fit()

    def _on_selection(self, index: int) -> None:
        if self.zoom.isChecked() and index >= 0:
            self.zoom_to_selected()

    def zoom_to_selected(self) -> None:
        """Show the selected object with a margin around it."""
        obj, shape = self.state.selected_object, self.canvas.image_shape
        rect = object_box(obj, shape) if obj is not None and shape is not None else None
        if rect is not None and not rect.isEmpty():
            self.canvas.view.setRange(rect, padding=0)

    # ---------------------------------------------------------------- help and risk
    def show_help(self, anchor: str = ""):
        """Open the help page (first steps, then every shortcut); returns the dialog."""
        shown = getattr(self.window, "help_dialog", None)
        try:
            shown = shown if shown is not None and shown.isVisible() else None
        except RuntimeError:  # closed: Qt deleted it
            shown = None
        self.window.help_dialog = show_help_page(self.window, WINDOW_SHORTCUTS + SHORTCUTS, anchor, shown)
        return self.window.help_dialog

    def _show_risk(self) -> None:
        """The shown image's risk figure (share of it changed against weak evidence) in the status bar,
        its largest change records (why those pixels changed) as the tooltip."""
        document = self.state.document
        result = document.result if document is not None else None
        risk = getattr(result, "risk", None)
        check = getattr(result, "precision", None)
        kept = bool(getattr(result, "baseline_kept", False)) and check is not None
        changes = list(getattr(result, "changes", None) or [])
        text = "" if risk is None else risk_text(risk)
        lines = ["share of the image changed against weak evidence (higher: review first)"]
        if kept:
            text = f"baseline kept ({check.brief()})" + (f", {text}" if changes else "")
            lines = [check.describe(), "refining would not put the class edges on stronger image edges: only "
                     "objects you accept are used; Edit > Use the refinement shows all of it"]
        elif check is not None:
            lines.append(check.describe())
            if getattr(result, "refine_anyway", False):
                text += ", refinement chosen over the kept baseline"
                lines.append("you chose the refinement over the baseline the check kept (Edit > Use the "
                             "refinement again, or Ctrl+Z, returns to it)")
        self.risk_label.setText(text)
        if changes:
            lines.append("largest changes:")
            lines += [change.describe() for change in changes[:RISK_TOOLTIP_CHANGES]]
        self.risk_label.setToolTip("\n".join(lines))

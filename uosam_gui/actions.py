"""Menus, shortcuts and the help text; which actions are enabled is derived from the state in one place."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu

from .review_state import ReviewState, Tool, cycled

SHORTCUTS = (
    ("N / Page Down", "next image"), ("P / Page Up", "previous image"),
    ("A", "accept the selected object (use its refined mask)"),
    ("R", "reject the selected object (keep its baseline pixels)"),
    ("U", "back to the automatic verdict"),
    ("O", "cycle the overlay (final, LRO, baseline, difference, GRO vote class, none)"),
    ("H", "cycle the heatmap (LCM, vote share, none)"), ("G", "toggle the GRO mask outlines"),
    ("V / B / E / F", "prompt tool / brush / eraser / fill"), ("[ and ]", "brush smaller / larger (screen pixels)"),
    ("Ctrl+Z / Ctrl+Shift+Z", "undo / redo"), ("Ctrl+S", "save this image's labels"),
    ("Ctrl+R", "refine all images in the background (again: stop); stored results are not redone"),
    ("Ctrl+,", "refinement settings (model, GRO profile, thresholds, ids); refine this image or all again"),
    ("Ctrl+E", "export the cleaned label folder"), ("Ctrl+0", "fit the image to the window"),
    ("Esc", "deselect the object; stop refining the shown image (what is shown stays)"), ("F1", "this help"),
    ("Prompt tool", "click an object to select it; inside its box, left click: positive point, right click: "
                    "negative point, Ctrl+click: remove a point; drag points, or the box by its edges and "
                    "corners; only that object is decoded again; click beside the image to deselect"),
    ("Brush / eraser / fill", "work anywhere on the image, also inside the box; they never move prompts"),
)


class Actions:
    """The window's actions; ``update`` enables them from the state."""

    def __init__(self, window: QMainWindow, state: ReviewState, handlers: dict[str, Callable]) -> None:
        self.window, self.state, self.handlers = window, state, handlers
        bar = window.menuBar()
        file_menu, edit_menu, view_menu, image_menu, help_menu = (
            bar.addMenu(name) for name in ("&File", "&Edit", "&View", "&Image", "&Help"))
        h = handlers
        self.open = self._add("Open data set...", h["open"], "Ctrl+O", file_menu)
        self.recent_menu = QMenu("Open recent", window)
        file_menu.addMenu(self.recent_menu)
        self.open_gt = self._add("Open ground truth...", h["open_gt"], None, file_menu)
        self.load_classes = self._add("Load classes...", h["load_classes"], None, file_menu)
        self.save = self._add("Save labels", h["save"], "Ctrl+S", file_menu)
        self.export = self._add("Export cleaned labels...", h["export"], "Ctrl+E", file_menu)
        file_menu.addSeparator()
        self.quit = self._add("Quit", window.close, "Ctrl+Q", file_menu)
        self.undo = self._add("Undo", h["undo"], "Ctrl+Z", edit_menu)
        self.redo = self._add("Redo", h["redo"], ["Ctrl+Shift+Z", "Ctrl+Y"], edit_menu)
        edit_menu.addSeparator()
        self.accept = self._add("Accept object", lambda: h["decide"]("accept"), "A", edit_menu)
        self.reject = self._add("Reject object", lambda: h["decide"]("reject"), "R", edit_menu)
        self.auto = self._add("Automatic verdict", lambda: h["decide"]("auto"), "U", edit_menu)
        for key, tool in (("V", Tool.PROMPT), ("B", Tool.BRUSH), ("E", Tool.ERASER), ("F", Tool.FILL)):
            self._add(f"{tool.value.capitalize()} tool", lambda checked=False, t=tool: state.set_tool(t), key,
                      edit_menu)
        self._add("Smaller brush", lambda: state.set_brush_size(state.brush_size - 2), "[")
        self._add("Larger brush", lambda: state.set_brush_size(state.brush_size + 2), "]")
        self._add("Cycle overlay", lambda: state.set_overlay(cycled(state.overlay)), "O", view_menu)
        self._add("Cycle heatmap", lambda: state.set_heatmap(cycled(state.heatmap)), "H", view_menu)
        self._add("GRO outlines", lambda: state.set_outlines(not state.outlines), "G", view_menu)
        self._add("Fit to window", h["fit"], "Ctrl+0", view_menu)
        self.next = self._add("Next image", lambda: h["step"](1), ["N", "PgDown"], image_menu)
        self.previous = self._add("Previous image", lambda: h["step"](-1), ["P", "PgUp"], image_menu)
        self.rerun = self._add("Refine again", h["rerun"], None, image_menu)
        self.settings = self._add("Refinement settings...", h["settings"], "Ctrl+,", image_menu)
        self.refine_all = self._add("Refine all images (background)", h["refine_all"], "Ctrl+R", image_menu)
        self.cancel = self._add("Deselect / cancel refinement", h["cancel"], "Esc", image_menu)
        self._add("Keyboard shortcuts", h["help"], "F1", help_menu)

    def _add(self, text: str, slot, shortcut=None, menu=None) -> QAction:
        action = QAction(text, self.window)
        if shortcut:
            shortcuts = shortcut if isinstance(shortcut, list) else [shortcut]
            action.setShortcuts([QKeySequence(s) for s in shortcuts])
        action.triggered.connect(slot)
        self.window.addAction(action)
        if menu is not None:
            menu.addAction(action)
        return action

    def update(self, busy: bool = False) -> None:
        """Enable every action from the state."""
        document, has_session = self.state.document, self.state.session is not None
        has_object = self.state.selected_object is not None
        for action in (self.accept, self.reject, self.auto):
            action.setEnabled(has_object)
        self.save.setEnabled(document is not None)
        self.undo.setEnabled(document is not None and bool(document.undo_stack))
        self.redo.setEnabled(document is not None and bool(document.redo_stack))
        for action in (self.export, self.next, self.previous, self.rerun, self.refine_all, self.open_gt,
                       self.load_classes):
            action.setEnabled(has_session)

    def fill_recent(self, paths: list[str]) -> None:
        """File > Open recent: one entry per session file."""
        self.recent_menu.clear()
        for path in paths:
            found = Path(path).is_absolute() and Path(path).is_file()  # moved, deleted, or an old relative entry
            action = self.recent_menu.addAction(path if found else f"{path} (not found)")
            action.setEnabled(found)
            action.triggered.connect(lambda checked=False, p=path: self.handlers["open_session"](Path(p)))

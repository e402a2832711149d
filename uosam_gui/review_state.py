"""The window's state in one place: what is open, shown, selected, and how it is drawn.

:class:`ReviewState` holds the session, the shown document (or the preview of an image still being
refined), the selected object, the view options and the tool; each field emits its own change
signal. The canvas, panels, legend, file list and actions follow these signals; nothing else keeps
a copy of the state. Modes are enums (their values are the texts the controls show).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np
from PySide6.QtCore import QObject, Signal

from .classes import ClassTable
from .document import ImageDocument
from .session import Session


class Overlay(Enum):
    """Which label map is drawn over the image."""

    FINAL = "final"
    LRO = "LRO"
    BASELINE = "baseline"
    DIFFERENCE = "difference"
    VOTE_CLASS = "GRO vote class"
    NONE = "none"


class Heatmap(Enum):
    """Which float map is drawn with the colour bar."""

    LCM = "LCM of selected object"
    VOTE_SHARE = "GRO vote share"
    NONE = "none"


class Tool(Enum):
    """What a click or drag on the image does."""

    PROMPT = "prompt"
    BRUSH = "brush"
    ERASER = "eraser"
    FILL = "fill"

    @property
    def paints(self) -> bool:
        """Brush and eraser: a drag paints a stroke."""
        return self in (Tool.BRUSH, Tool.ERASER)


def cycled(member: Enum) -> Enum:
    """The next member of ``member``'s enum (wrapping around)."""
    members = list(type(member))
    return members[(members.index(member) + 1) % len(members)]


@dataclass(frozen=True)
class Preview:
    """An image shown while it is refined: its pixels and its baseline labels."""

    key: str
    image: np.ndarray  # HxWx3 uint8
    baseline: np.ndarray  # HxW int


BRUSH_RANGE = (1, 200)  # brush radius in screen pixels


class ReviewState(QObject):
    """Session, shown document, selection, view options and tool; one signal per field."""

    sessionChanged = Signal()
    classesChanged = Signal()  # class names, colours or hidden classes changed (same session)
    documentChanged = Signal()  # another document (or a preview, or nothing) is shown
    contentChanged = Signal()  # the shown document changed (decision, class, prompts, pixels, undo)
    selectionChanged = Signal(int)  # object index, -1 for none
    overlayChanged = Signal()
    heatmapChanged = Signal()
    opacityChanged = Signal(float)
    outlinesChanged = Signal(bool)
    toolChanged = Signal()
    paintClassChanged = Signal(int)
    brushSizeChanged = Signal(int)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session: Session | None = None
        self.classes: ClassTable | None = None
        self.document: ImageDocument | None = None
        self.preview: Preview | None = None
        self.selected = -1
        self.overlay = Overlay.FINAL
        self.heatmap = Heatmap.LCM
        self.opacity = 0.55
        self.outlines = False
        self.tool = Tool.PROMPT
        self.paint_class = 0
        self.brush_size = 8

    # ---------------------------------------------------------------- reading
    @property
    def selected_object(self):
        """The selected ObjectResult, or None."""
        document = self.document
        if document is None or not 0 <= self.selected < len(document.objects):
            return None
        return document.objects[self.selected]

    @property
    def shown_key(self) -> str | None:
        """The key of the shown document or preview."""
        if self.document is not None:
            return self.document.key
        return self.preview.key if self.preview is not None else None

    # ---------------------------------------------------------------- changing
    def set_session(self, session: Session | None, classes: ClassTable | None) -> None:
        """Open another session (shows nothing until :meth:`show`)."""
        self.session, self.classes = session, classes
        self.show(None)
        if classes is not None and self.paint_class not in classes.class_ids():
            ids = classes.class_ids()
            self.set_paint_class(ids[0] if ids else 0)
        self.sessionChanged.emit()

    def set_classes(self, classes: ClassTable) -> None:
        """Other class names / colours / hidden classes for the open session (a classes file loaded,
        a class shown or hidden in the legend)."""
        self.classes = classes
        self.classesChanged.emit()

    def show(self, document: ImageDocument | None, preview: Preview | None = None) -> None:
        """Show a document (or the preview of an image being refined, or nothing); clears the selection."""
        self.document, self.preview = document, None if document is not None else preview
        self.selected = -1
        self.documentChanged.emit()
        self.selectionChanged.emit(-1)

    def document_edited(self) -> None:
        """Tell the followers that the shown document changed."""
        if self.document is not None:
            if self.selected >= len(self.document.objects):
                self.select(-1)
            self.contentChanged.emit()

    def select(self, index: int) -> None:
        """Select an object of the shown document (-1 or out of range: none)."""
        document = self.document
        index = index if document is not None and 0 <= index < len(document.objects) else -1
        if index != self.selected:
            self.selected = index
            self.selectionChanged.emit(index)

    def set_overlay(self, overlay: Overlay) -> None:
        if overlay != self.overlay:
            self.overlay = Overlay(overlay)
            self.overlayChanged.emit()

    def set_heatmap(self, heatmap: Heatmap) -> None:
        if heatmap != self.heatmap:
            self.heatmap = Heatmap(heatmap)
            self.heatmapChanged.emit()

    def set_opacity(self, opacity: float) -> None:
        opacity = float(min(1.0, max(0.0, opacity)))
        if opacity != self.opacity:
            self.opacity = opacity
            self.opacityChanged.emit(opacity)

    def set_outlines(self, shown: bool) -> None:
        if bool(shown) != self.outlines:
            self.outlines = bool(shown)
            self.outlinesChanged.emit(self.outlines)

    def set_tool(self, tool: Tool) -> None:
        if tool != self.tool:
            self.tool = Tool(tool)
            self.toolChanged.emit()

    def set_paint_class(self, class_id: int) -> None:
        if int(class_id) != self.paint_class:
            self.paint_class = int(class_id)
            self.paintClassChanged.emit(self.paint_class)

    def set_brush_size(self, radius: int) -> None:
        radius = int(min(BRUSH_RANGE[1], max(BRUSH_RANGE[0], radius)))
        if radius != self.brush_size:
            self.brush_size = radius
            self.brushSizeChanged.emit(radius)

"""The main window: wires the session, the worker controller, the canvas and the panels.

It owns no computation: labels, masks, LCMs, prompts and votes come from the core's RefineResult
(through :class:`ImageDocument`); the window only turns them into colours and widgets.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDockWidget,
    QFileDialog,
    QFormLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QProgressDialog,
    QPushButton,
    QSlider,
    QSpinBox,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from uosam_core.image_io import InputError, read_labels

from .canvas import LabelCanvas
from .classes import ClassTable
from .controller import RefineController
from .document import ImageDocument
from .file_panel import FilePanel
from .object_panel import Legend, ObjectPanel
from .session import Session

OVERLAYS = ("final", "LRO", "baseline", "difference", "GRO vote class", "none")
HEATMAPS = ("LCM of selected object", "GRO vote share", "none")
SHORTCUTS = (
    ("N / Page Down", "next image"), ("P / Page Up", "previous image"),
    ("A", "accept the selected object (use its refined mask)"),
    ("R", "reject the selected object (keep its baseline pixels)"),
    ("U", "back to the automatic verdict"),
    ("O", "cycle the overlay (final, LRO, baseline, difference, GRO vote class, none)"),
    ("H", "cycle the heatmap (LCM, vote share, none)"), ("G", "toggle the GRO mask outlines"),
    ("V / B / E / F", "prompt tool / brush / eraser / fill"), ("[ and ]", "brush smaller / larger"),
    ("Ctrl+Z / Ctrl+Shift+Z", "undo / redo"), ("Ctrl+S", "save this image's labels"),
    ("Ctrl+E", "export the cleaned label folder"), ("Ctrl+0", "fit the image to the window"),
    ("Esc", "cancel the running refinement"), ("F1", "this help"),
    ("Prompt tool", "left click: positive point, right click: negative point, Ctrl+click: remove a point, "
                    "drag points or the yellow box; only that object is decoded again"),
)


def edges(mask: np.ndarray) -> np.ndarray:
    """Bool edge pixels of a bool mask (morphological gradient, 1 px)."""
    as_bytes = mask.astype(np.uint8)
    return cv2.morphologyEx(as_bytes, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)).astype(bool)


class MainWindow(QMainWindow):
    """uosam-gui's window."""

    def __init__(self, controller: RefineController, settings: QSettings | None = None) -> None:
        super().__init__()
        self.setWindowTitle("uosam - UO-SAM label refinement")
        self.resize(1500, 900)
        self.controller = controller
        self.settings = settings or QSettings("uosam", "uosam-gui")
        self.session: Session | None = None
        self.classes: ClassTable | None = None
        self.document: ImageDocument | None = None
        self.selected = -1
        self.messages: list[str] = []  # everything told to the user (status bar history)
        self.last_export_log: dict | None = None
        self._outline_cache: tuple[np.ndarray | None, np.ndarray | None] = (None, None)
        self.export_dialog: QProgressDialog | None = None
        self._build_widgets()
        self._build_actions()
        self._connect()
        self.autosave_timer = QTimer(self, singleShot=True, interval=400)
        self.autosave_timer.timeout.connect(self.autosave)
        self._update_actions()

    # ================================================================= construction
    def _build_widgets(self) -> None:
        self.canvas = LabelCanvas()
        self.setCentralWidget(self.canvas)
        self.file_panel = FilePanel()
        self.object_panel = ObjectPanel()
        self.legend = Legend()
        self.overlay_combo = QComboBox()
        self.overlay_combo.addItems(list(OVERLAYS))
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal, minimum=0, maximum=100, value=55)
        self.heatmap_combo = QComboBox()
        self.heatmap_combo.addItems(list(HEATMAPS))
        self.outline_check = QCheckBox("GRO mask outlines")
        self.tool_combo = QComboBox()
        self.tool_combo.addItems(["prompt", "brush", "eraser", "fill"])
        self.paint_class_combo = QComboBox()
        self.brush_spin = QSpinBox(minimum=1, maximum=80, value=6)
        view_box = QWidget()
        form = QFormLayout(view_box)
        form.addRow("overlay", self.overlay_combo)
        form.addRow("opacity", self.opacity_slider)
        form.addRow("heatmap", self.heatmap_combo)
        form.addRow("", self.outline_check)
        form.addRow("tool", self.tool_combo)
        form.addRow("paint class", self.paint_class_combo)
        form.addRow("brush radius", self.brush_spin)
        right = QWidget()
        right.setMinimumWidth(430)
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(QLabel("Objects (LRO)"))
        right_layout.addWidget(self.object_panel, 3)
        right_layout.addWidget(view_box)
        right_layout.addWidget(QLabel("Classes"))
        right_layout.addWidget(self.legend, 2)
        for title, widget, area in (("Images", self.file_panel, Qt.DockWidgetArea.LeftDockWidgetArea),
                                    ("Review", right, Qt.DockWidgetArea.RightDockWidgetArea)):
            dock = QDockWidget(title, self)
            dock.setObjectName(title)
            dock.setWidget(widget)
            dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable)
            self.addDockWidget(area, dock)
        self.hover_label = QLabel("")
        self.progress_bar = QProgressBar(maximum=100)
        self.progress_bar.setFixedWidth(330)
        self.progress_bar.setVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setVisible(False)
        self.statusBar().addPermanentWidget(self.hover_label)
        self.statusBar().addPermanentWidget(self.progress_bar)
        self.statusBar().addPermanentWidget(self.cancel_button)

    def _action(self, text: str, slot, shortcut=None, menu=None) -> QAction:
        action = QAction(text, self)
        if shortcut:
            shortcuts = shortcut if isinstance(shortcut, list) else [shortcut]
            action.setShortcuts([QKeySequence(s) for s in shortcuts])
        action.triggered.connect(slot)
        self.addAction(action)
        if menu is not None:
            menu.addAction(action)
        return action

    def _build_actions(self) -> None:
        bar = self.menuBar()
        file_menu, edit_menu, view_menu, image_menu, help_menu = (
            bar.addMenu(name) for name in ("&File", "&Edit", "&View", "&Image", "&Help"))
        self.open_action = self._action("Open data set...", self.choose_dataset, "Ctrl+O", file_menu)
        self.recent_menu = file_menu.addMenu("Open recent")
        self.save_action = self._action("Save labels", self.save_current, "Ctrl+S", file_menu)
        self.export_action = self._action("Export cleaned labels...", self.choose_export, "Ctrl+E", file_menu)
        file_menu.addSeparator()
        self._action("Quit", self.close, "Ctrl+Q", file_menu)
        self.undo_action = self._action("Undo", self.undo, "Ctrl+Z", edit_menu)
        self.redo_action = self._action("Redo", self.redo, ["Ctrl+Shift+Z", "Ctrl+Y"], edit_menu)
        edit_menu.addSeparator()
        self.accept_action = self._action("Accept object", lambda: self.decide("accept"), "A", edit_menu)
        self.reject_action = self._action("Reject object", lambda: self.decide("reject"), "R", edit_menu)
        self.auto_action = self._action("Automatic verdict", lambda: self.decide("auto"), "U", edit_menu)
        for key, tool in (("V", "prompt"), ("B", "brush"), ("E", "eraser"), ("F", "fill")):
            self._action(f"{tool.capitalize()} tool", lambda checked=False, t=tool: self.tool_combo.setCurrentText(t),
                         key, edit_menu)
        self._action("Smaller brush", lambda: self.brush_spin.setValue(self.brush_spin.value() - 2), "[")
        self._action("Larger brush", lambda: self.brush_spin.setValue(self.brush_spin.value() + 2), "]")
        self._action("Cycle overlay", lambda: self._cycle(self.overlay_combo), "O", view_menu)
        self._action("Cycle heatmap", lambda: self._cycle(self.heatmap_combo), "H", view_menu)
        self._action("GRO outlines", self.outline_check.toggle, "G", view_menu)
        self._action("Fit to window", self.canvas.fit, "Ctrl+0", view_menu)
        self.next_action = self._action("Next image", lambda: self.step_image(1), ["N", "PgDown"], image_menu)
        self.previous_action = self._action("Previous image", lambda: self.step_image(-1), ["P", "PgUp"], image_menu)
        self.rerun_action = self._action("Refine again", self.rerun, None, image_menu)
        self.cancel_action = self._action("Cancel refinement", self.controller.cancel, "Esc", image_menu)
        self._action("Keyboard shortcuts", self.show_help, "F1", help_menu)
        self._refresh_recent()

    def _connect(self) -> None:
        c = self.controller
        c.documentReady.connect(self._on_document_ready)
        c.progress.connect(self._on_progress)
        c.failed.connect(self._on_failed)
        c.redecoded.connect(self._on_redecoded)
        c.modelReady.connect(lambda model: self.notify(f"model {model} loaded"))
        c.busyChanged.connect(self._on_busy)
        c.exportProgress.connect(self._on_export_progress)
        c.exportFinished.connect(self._on_exported)
        self.cancel_button.clicked.connect(c.cancel)
        self.file_panel.imageChosen.connect(self.show_image)
        self.object_panel.objectSelected.connect(self.select_object)
        self.object_panel.decisionChosen.connect(lambda index, decision: self.decide(decision, index))
        self.object_panel.classChosen.connect(self.change_class)
        self.canvas.promptsEdited.connect(self.edit_prompts)
        self.canvas.strokeFinished.connect(self._on_stroke)
        self.canvas.fillRequested.connect(self._on_fill)
        self.canvas.hovered.connect(self._on_hover)
        for widget in (self.overlay_combo, self.heatmap_combo, self.tool_combo):
            widget.currentIndexChanged.connect(self.refresh_layers)
        self.opacity_slider.valueChanged.connect(self.refresh_layers)
        self.outline_check.toggled.connect(self.refresh_layers)
        self.brush_spin.valueChanged.connect(lambda value: setattr(self.canvas, "brush_radius", value))

    # ================================================================= messages
    def notify(self, message: str, error: bool = False) -> None:
        """The one channel to the user: the status bar (errors stay until the next message)."""
        self.messages.append(("error: " if error else "") + message)
        self.statusBar().setStyleSheet("color: #ff6b6b;" if error else "")
        self.statusBar().showMessage(message, 0 if error else 8000)

    def _update_actions(self) -> None:
        """Enable every action from the current state, in one place."""
        has_doc = self.document is not None
        has_object = has_doc and 0 <= self.selected < len(self.document.objects)
        for action in (self.accept_action, self.reject_action, self.auto_action):
            action.setEnabled(has_object)
        self.save_action.setEnabled(has_doc)
        self.undo_action.setEnabled(has_doc and bool(self.document.undo_stack))
        self.redo_action.setEnabled(has_doc and bool(self.document.redo_stack))
        for action in (self.export_action, self.next_action, self.previous_action, self.rerun_action):
            action.setEnabled(self.session is not None)
        self.cancel_action.setEnabled(self.controller.busy)

    # ================================================================= data set
    def open_dataset(self, images: Path, labels: Path, out: Path, classes_file: Path | None = None,
                     label_encoding: str = "ids") -> bool:
        """Open (or resume) a session; returns False and says why when the folders are unusable."""
        try:
            session = Session.open(images, labels, out, label_encoding=label_encoding)
        except InputError as problem:
            self.notify(str(problem), error=True)
            return False
        self._leave_document()
        self.session = session
        palette = None
        first_label = next((r.label for r in session.records.values() if r.label), None)
        if first_label and label_encoding == "ids":
            try:
                palette = read_labels(first_label)[1].palette
            except InputError:
                palette = None
        self.classes = ClassTable.discover(session.labels, classes_file=classes_file, label_palette=palette,
                                           ignore_ids=self.controller.model.config.ignore_ids)
        self.object_panel.set_classes(self.classes)
        self.paint_class_combo.clear()
        for class_id in self.classes.class_ids():
            self.paint_class_combo.addItem(self.classes.name(class_id), class_id)
        self.file_panel.set_records(session.records)
        session.save()
        self._remember_recent(session.path)
        self.setWindowTitle(f"uosam - {session.images} ({len(session.records)} images)")
        self.notify(f"opened {len(session.records)} images; output and session in {session.out}")
        first = session.current or next((k for k, r in session.records.items() if r.state != "error"), None)
        if first:
            self.show_image(first)
        self._update_actions()
        return True

    def open_session_file(self, path: Path) -> bool:
        """Resume a session from its file."""
        try:
            stored = Session.load(path)
        except InputError as problem:
            self.notify(str(problem), error=True)
            return False
        return self.open_dataset(stored.images, stored.labels, stored.out, label_encoding=stored.label_encoding)

    def choose_dataset(self) -> None:
        """File > Open: ask for the images, labels and output folders."""
        images = QFileDialog.getExistingDirectory(self, "Images folder")
        labels = images and QFileDialog.getExistingDirectory(self, "Labels folder (baseline label maps)")
        out = labels and QFileDialog.getExistingDirectory(self, "Output folder (refined labels and session)")
        if images and labels and out:
            self.open_dataset(Path(images), Path(labels), Path(out))

    def _remember_recent(self, path: Path) -> None:
        recent = [p for p in (self.settings.value("recent", []) or []) if p != str(path)]
        self.settings.setValue("recent", [str(path), *recent][:8])
        self._refresh_recent()

    def _refresh_recent(self) -> None:
        self.recent_menu.clear()
        for path in self.settings.value("recent", []) or []:
            action = self.recent_menu.addAction(path)
            action.triggered.connect(lambda checked=False, p=path: self.open_session_file(Path(p)))

    # ================================================================= images
    def _leave_document(self) -> None:
        """Record the shown document's state before showing another."""
        if self.document is not None and self.session is not None:
            self.autosave()
        self.document = None
        self.selected = -1

    def show_image(self, key: str) -> None:
        """Show an image: at once when refined (or prefetched), else after its refinement."""
        if self.session is None or key not in self.session.records:
            return
        self._leave_document()
        self.session.current = key
        self.file_panel.select(key)
        record = self.session.records[key]
        if record.image is None or record.label is None:
            self.notify(f"{key}: {record.error}", error=True)
            self._clear_view()
            return
        document = self.controller.show(key, self.session)
        if document is not None:
            self._display(document)
        else:
            self._clear_view()
            self.notify(f"refining {key} ...")
        self._update_actions()

    def _clear_view(self) -> None:
        self.canvas.clear_prompts()
        self.canvas.set_overlay(None, 1.0)
        self.canvas.set_outline(None)
        self.canvas.set_selection(None)
        self.canvas.set_heatmap(None)
        self.object_panel.set_objects([])
        self.legend.clear()

    def step_image(self, step: int) -> None:
        """Go to the next (1) or previous (-1) image of the list as filtered and sorted."""
        keys = self.file_panel.visible_keys()
        if not keys or self.session is None:
            return
        current = self.session.current
        position = keys.index(current) if current in keys else -1
        self.show_image(keys[(position + step) % len(keys)])

    def rerun(self) -> None:
        """Refine the current image again (its record's decisions and edits are re-applied)."""
        if self.session and self.session.current:
            self._leave_document()
            self.controller.rerun(self.session.current, self.session)
            self._clear_view()

    def _on_document_ready(self, key: str, document: ImageDocument) -> None:
        if self.session is None or key not in self.session.records:
            return
        self.session.record_document(document)
        self.file_panel.update_entry(key)
        if key == self.session.current and self.document is None:
            self._display(document)
            self._prefetch_next()

    def _prefetch_next(self) -> None:
        keys = [k for k in self.file_panel.visible_keys() if self.session.records[k].state != "error"]
        if self.session.current in keys:
            position = keys.index(self.session.current)
            if position + 1 < len(keys):
                self.controller.prefetch(keys[position + 1], self.session)

    def _display(self, document: ImageDocument) -> None:
        self.document = document
        self.canvas.set_image(document.image)
        self.selected = -1
        self.object_panel.set_objects(document.objects)
        self.refresh_layers()
        timings = ", ".join(f"{name} {seconds:.1f}s" for name, seconds in document.result.timings.items())
        accepted = sum(obj.uses_refined for obj in document.objects)
        self.notify(f"{document.key}: {len(document.objects)} objects, {accepted} refined"
                    + (f" ({timings})" if timings else ""))
        self._update_actions()

    def _on_progress(self, key: str, stage: str, fraction: float) -> None:
        names = {"model": "loading model", "encode": "encoding image", "lro": "LRO", "gro": "GRO",
                 "done": "done"}
        ahead = "" if self.session is not None and key == self.session.current else "ahead: "
        self.progress_bar.setFormat(f"{ahead}{key}: {names.get(stage, stage)} %p%")
        self.progress_bar.setValue(int(100 * fraction))

    def _on_busy(self, busy: bool) -> None:
        self.progress_bar.setVisible(busy)
        self.cancel_button.setVisible(busy)
        if busy:
            self.progress_bar.setValue(0)
        self._update_actions()

    def _on_failed(self, key: str, message: str) -> None:
        if key and self.session is not None and key in self.session.records:
            self.session.mark_error(key, message)
            self.session.save()
            self.file_panel.update_entry(key)
        self.notify(f"{key}: {message}" if key else message, error=True)

    # ================================================================= layers
    def refresh_layers(self) -> None:
        """Redraw every layer from the document and the view controls (no computation)."""
        self.canvas.tool = self.tool_combo.currentText()
        document, classes = self.document, self.classes
        if document is None or classes is None:
            return
        result, final = document.result, document.labels
        mode = self.overlay_combo.currentText()
        opacity = self.opacity_slider.value() / 100
        if mode == "none":
            self.canvas.set_overlay(None, opacity)
        elif mode == "difference":
            rgba = classes.rgba(final)
            rgba[final == result.baseline] = 0
            self.canvas.set_overlay(rgba, max(opacity, 0.8))
        elif mode == "GRO vote class":
            votes = result.gro.vote_class if result.gro is not None else np.full(result.baseline.shape, -1)
            self.canvas.set_overlay(classes.rgba(votes), opacity)
        else:
            labels = {"final": final, "LRO": result.lro_labels, "baseline": result.baseline}[mode]
            self.canvas.set_overlay(classes.rgba(labels), opacity)
        heatmap = self.heatmap_combo.currentText()
        obj = document.objects[self.selected] if 0 <= self.selected < len(document.objects) else None
        if heatmap.startswith("LCM") and obj is not None:
            self.canvas.set_heatmap(obj.lcm, (float(obj.lcm.min()), float(obj.lcm.max())), "LCM (cosine)")
        elif heatmap.startswith("GRO") and result.gro is not None:
            self.canvas.set_heatmap(result.gro.vote_share, (0.0, 1.0), "vote share")
        else:
            self.canvas.set_heatmap(None)
        if self.outline_check.isChecked() and result.gro is not None and len(result.gro.masks):
            self.canvas.set_outline(self._gro_outline(result.gro.masks))
        else:
            self.canvas.set_outline(None)
        if obj is not None:
            layer = np.zeros((*result.baseline.shape, 4), np.uint8)
            layer[obj.step2_mask] = (255, 255, 255, 40)
            layer[edges(obj.baseline_mask)] = (255, 0, 255, 255)
            layer[edges(obj.step2_mask)] = (255, 255, 255, 255)
            self.canvas.set_selection(layer)
        else:
            self.canvas.set_selection(None)
        self.legend.show_classes(classes, final)

    def _gro_outline(self, masks: np.ndarray) -> np.ndarray:
        """The GRO masks' edges as an RGBA layer; masks do not change with decisions, so it is kept."""
        if self._outline_cache[0] is not masks:
            outline = np.zeros((*masks.shape[1:], 4), np.uint8)
            outline[np.any([edges(mask) for mask in masks], axis=0)] = (255, 255, 255, 200)
            self._outline_cache = (masks, outline)
        return self._outline_cache[1]

    def _cycle(self, combo: QComboBox) -> None:
        combo.setCurrentIndex((combo.currentIndex() + 1) % combo.count())

    # ================================================================= objects
    def select_object(self, index: int) -> None:
        """Show one object's LCM, points and boxes (index -1: none)."""
        self.selected = index
        document = self.document
        if document is None or not 0 <= index < len(document.objects):
            self.selected = -1
            self.canvas.show_prompts(None)
        else:
            obj = document.objects[index]
            self.canvas.show_prompts(obj.prompts, obj.step2_box)
            if self.heatmap_combo.currentText() == "none":
                self.heatmap_combo.setCurrentIndex(0)
        self.refresh_layers()
        self._update_actions()

    def edit_prompts(self, prompts) -> None:
        """The user moved, added or removed a prompt: decode that object again in the worker."""
        if self.document is None or self.selected < 0:
            return
        if not prompts.positive and prompts.box is None:
            self.notify("an object needs at least one positive point or a box", error=True)
            return
        self.controller.redecode(self.document, self.selected, prompts)

    def _on_redecoded(self, key: str, index: int, seconds: float) -> None:
        if self.document is None or key != self.document.key:
            self._record_document_not_shown(key)
            return
        self._after_change(keep_prompts=True)  # the items already show the prompts that were decoded
        obj = self.document.objects[index]
        if index == self.selected:
            self.canvas.set_step2_box(obj.step2_box)
        self.notify(f"object {index} decoded again in {1000 * seconds:.0f} ms: IoU with baseline "
                    f"{obj.iou_with_baseline:.2f}, {'refined' if obj.uses_refined else 'baseline'} used")

    def _record_document_not_shown(self, key: str) -> None:
        document = self.controller.documents.get(key)
        if document is not None and self.session is not None:
            self.session.record_document(document)
            self.session.save()
            self.file_panel.update_entry(key)

    def decide(self, decision: str, index: int | None = None) -> None:
        """Accept, reject or return an object to the automatic verdict (undoable)."""
        index = self.selected if index is None else index
        if self.document is None or not 0 <= index < len(self.document.objects):
            return
        self.document.set_decision(index, decision)
        self._after_change()

    def change_class(self, index: int, class_id: int) -> None:
        """Give an object another class (undoable)."""
        if self.document is not None:
            self.document.set_class(index, class_id)
            self._after_change()

    def _after_change(self, keep_prompts: bool = False) -> None:
        """Redraw after a document change and schedule the autosave."""
        document = self.document
        self.object_panel.set_objects(document.objects, self.selected)
        if not keep_prompts and 0 <= self.selected < len(document.objects):
            obj = document.objects[self.selected]
            self.canvas.show_prompts(obj.prompts, obj.step2_box)
        self.refresh_layers()
        self.autosave_timer.start()
        self._update_actions()

    # ================================================================= pixel tools
    def _paint_class(self) -> int:
        data = self.paint_class_combo.currentData()
        return int(data) if data is not None else 0

    def _on_stroke(self, mask: np.ndarray, tool: str) -> None:
        if self.document is None:
            return
        class_id = self.classes.ignore_ids[0] if tool == "eraser" else self._paint_class()
        if self.document.paint(mask, class_id, description=tool):
            self._after_change(keep_prompts=True)

    def _on_fill(self, x: int, y: int) -> None:
        if self.document is not None and self.document.fill(x, y, self._paint_class()):
            self._after_change(keep_prompts=True)

    def undo(self) -> None:
        """Undo the last decision, prompt edit or stroke of this image."""
        self._step_history("undo")

    def redo(self) -> None:
        """Redo the last undone change."""
        self._step_history("redo")

    def _step_history(self, direction: str) -> None:
        if self.document is not None:
            description = getattr(self.document, direction)()
            if description:
                self._after_change()
                self.notify(f"{ {'undo': 'undid', 'redo': 'redid'}[direction]} {description}")

    def _on_hover(self, x: int, y: int) -> None:
        document, classes = self.document, self.classes
        if document is None or classes is None or x < 0:
            self.hover_label.setText("")
            return
        final = int(document.labels[y, x])
        base = int(document.result.baseline[y, x])
        text = f"x {x}, y {y}: {classes.name(final)}"
        if base != final:
            text += f" (baseline {classes.name(base)})"
        if document.result.gro is not None and document.result.gro.vote_class[y, x] >= 0:
            text += f", vote share {document.result.gro.vote_share[y, x]:.2f}"
        self.hover_label.setText(text)

    # ================================================================= save / export
    def autosave(self) -> None:
        """Record the shown document's decisions and edits in the session file (no label files)."""
        if self.session is None:
            return
        if self.document is not None:
            self.session.record_document(self.document)
        try:
            self.session.save()
        except OSError as problem:
            self.notify(f"{self.session.path}: autosave failed ({problem})", error=True)
        if self.document is not None:
            self.file_panel.update_entry(self.document.key)

    def save_current(self) -> Path | None:
        """Write the shown image's final labels to the output folder."""
        if self.document is None or self.session is None:
            return None
        try:
            target = self.session.save_labels(self.document)
            self.session.save()
        except (OSError, ValueError) as problem:
            self.notify(f"save failed: {problem}", error=True)
            return None
        self.file_panel.update_entry(self.document.key)
        self.notify(f"saved {target}")
        return target

    def choose_export(self) -> None:
        """File > Export: pick a folder and what unreviewed images get, then export with progress."""
        if self.session is None:
            return
        target = QFileDialog.getExistingDirectory(self, "Export cleaned labels to")
        if not target:
            return
        choice = QMessageBox.question(
            self, "Images not reviewed",
            "Images you have not reviewed: export their refined labels (Yes) or their baseline labels (No)?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No | QMessageBox.StandardButton.Cancel)
        if choice == QMessageBox.StandardButton.Cancel:
            return
        self.export(Path(target), "refined" if choice == QMessageBox.StandardButton.Yes else "baseline")

    def export(self, target: Path, unreviewed: str) -> None:
        """Export in the worker with a progress dialog; the result arrives in :meth:`_on_exported`."""
        if self.session is None:
            return
        self.autosave()
        self.export_dialog = QProgressDialog("Exporting cleaned labels ...", "Cancel", 0,
                                             max(1, len(self.session.records)), self)
        self.export_dialog.setWindowModality(Qt.WindowModality.WindowModal)
        self.export_dialog.setMinimumDuration(0)
        token = self.controller.export(self.session, target, unreviewed)
        self.export_dialog.canceled.connect(lambda: self.controller.cancel_export(token))

    def _on_export_progress(self, done: int, total: int, key: str) -> None:
        if self.export_dialog is None:
            return
        self.export_dialog.setMaximum(total)
        self.export_dialog.setValue(done)
        self.export_dialog.setLabelText(f"Exporting {key} ({done + 1} of {total})" if key else "Done")

    def _on_exported(self, log: dict | None, error: str) -> None:
        if self.export_dialog is not None:
            self.export_dialog.reset()
        self.last_export_log = log
        if log is None:
            self.notify(f"export failed: {error}", error=True)
        else:
            skipped = f", {len(log['skipped'])} skipped" if log["skipped"] else ""
            state = "" if log["complete"] else " (cancelled, incomplete)"
            self.notify(f"exported {len(log['entries'])} label maps{skipped}{state}; log: uosam-export-log.json",
                        error=bool(log["skipped"]))

    # ================================================================= help / close
    def show_help(self) -> None:
        """A non-modal dialog listing the shortcuts and the workflow."""
        dialog = QDialog(self)
        dialog.setWindowTitle("uosam-gui: keyboard shortcuts")
        browser = QTextBrowser()
        rows = "".join(f"<tr><td><b>{keys}</b></td><td>{what}</td></tr>" for keys, what in SHORTCUTS)
        browser.setHtml(f"<table cellpadding=4>{rows}</table>")
        layout = QVBoxLayout(dialog)
        layout.addWidget(browser)
        dialog.resize(620, 520)
        dialog.show()
        self.help_dialog = dialog

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt naming
        """Autosave the session, stop the worker, then close."""
        self.autosave()
        self.controller.shutdown()
        super().closeEvent(event)

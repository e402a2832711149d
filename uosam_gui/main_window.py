"""The main window: builds the widgets and wires them to the review state and its workers.

It holds no state and does no work: the :class:`ReviewState` is the state, the :class:`Reviewer`
opens / shows / saves, the :class:`Editor` edits, the :class:`LayerPresenter` draws, and the
panels, controls and actions follow the state's signals.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from . import window_memory
from .actions import Actions
from .canvas import LabelCanvas
from .classes_flow import ClassesFlow
from .controller import RefineController
from .editing import Editor
from .export_flow import ExportFlow
from .file_panel import FilePanel
from .gt_flow import GtFlow
from .keyboard_review import KeyboardReview, find_menu
from .layer_presenter import LayerPresenter
from .layers import edges  # noqa: F401 - re-exported for callers that draw outlines like the window
from .legend import Legend
from .notifications import Banner, Level, Notifier
from .object_panel import ObjectPanel
from .refine_all import RefineAll
from .review import Reviewer
from .review_state import ReviewState
from .settings_dialog import SettingsFlow
from .stored_scan import StoredScan
from .view_controls import ViewControls

CANVAS_MIN_SIZE = (420, 300)  # the image area never gets smaller; the window's minimum size follows
CANVAS_SHARE = 0.55  # the side panels shrink when the image area would get less of the window's width
PANEL_MIN_WIDTH = 170  # each side panel's narrowest (its texts elide or scroll)
DOCK_SEPARATORS_PX = 6
STAGE_NAMES = {"model": "loading model", "encode": "encoding image", "lro": "LRO", "gro": "GRO", "done": "done"}


class CanvasArea(QWidget):
    """The canvas filling the central area, the message banner floating over its top edge: a message
    that comes or goes never resizes the canvas, so the image never moves under the pointer."""

    def __init__(self, canvas: LabelCanvas, banner: Banner) -> None:
        super().__init__()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(canvas)
        self.banner = banner
        banner.setParent(self)
        banner.changed.connect(self.place_banner)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt naming
        super().resizeEvent(event)
        self.place_banner()

    def place_banner(self) -> None:
        """Span the top edge, as high as the wrapped message needs."""
        width = self.width()
        height = self.banner.heightForWidth(width) if self.banner.hasHeightForWidth() else -1
        self.banner.setGeometry(0, 0, width, max(height, self.banner.sizeHint().height()))
        self.banner.raise_()


class MainWindow(QMainWindow):
    """uosam-gui's window."""

    def __init__(self, controller: RefineController, settings: QSettings | None = None) -> None:
        super().__init__()
        self.setWindowTitle("uosam - UO-SAM label refinement")
        self.resize(1500, 900)
        self.controller = controller
        self.state = ReviewState(self)
        self._build_widgets()
        self.notifier = Notifier(self.statusBar(), self.banner)
        self.qsettings = settings or QSettings("uosam", "uosam-gui")
        self.reviewer = Reviewer(self.state, controller, self.notifier, self.qsettings, self)
        self.editor = Editor(self.state, controller, self.notifier, self.reviewer)
        self.exporter = ExportFlow(self.reviewer, controller, self.notifier, self)
        self.refine_all = RefineAll(self.reviewer, controller, self.notifier, self.file_panel, self)
        self.presenter = LayerPresenter(self.state, self.canvas, self.legend)
        self.gt = GtFlow(self.state, self.reviewer, controller, self.file_panel, self.notifier, self.statusBar(), self)
        self.class_loader = ClassesFlow(self.state, self.notifier, self.legend, self)
        self.settings_flow = SettingsFlow(self.state, self.reviewer, controller, self.notifier, self.statusBar(), self,
                                          refine_all=self.refine_all)
        # made after the settings flow: a reopened session's settings are restored before the check
        self.stored_scan = StoredScan(self.reviewer, controller, self.notifier, self)
        self.menu_actions = Actions(self, self.state, {
            "open": self.choose_dataset, "open_session": self.reviewer.open_session_file,
            "save": self.reviewer.save_current, "export": self.exporter.choose, "undo": self.editor.undo,
            "redo": self.editor.redo, "decide": self.editor.decide, "fit": self.canvas.fit,
            "step": self.reviewer.step_image,
            "refine_all": self.refine_all.toggle,
            "rerun": self.reviewer.rerun, "cancel": self.reviewer.cancel, "help": self.show_help,
            "open_gt": self.gt.choose, "load_classes": self.class_loader.choose,
            "settings": self.settings_flow.open_dialog})
        self._wire()
        self._add_panel_toggles()
        self.review_keys = KeyboardReview(self)  # J/K objects, accept and next, zoom, split view, help
        self.refine_all.runningChanged.connect(lambda running: self.menu_actions.refine_all.setText(
            "Stop refining all" if running else "Refine all images (background)"))
        self.menu_actions.fill_recent(self.reviewer.recent.paths())
        self.menu_actions.update()
        window_memory.restore(self, self.state, self.qsettings)  # the last run's size and view options
        self._layout_restored = False  # the docks, once shown

    # ================================================================= construction
    def _build_widgets(self) -> None:
        self.canvas = LabelCanvas()
        self.banner = Banner()
        self.setCentralWidget(CanvasArea(self.canvas, self.banner))
        self.file_panel = FilePanel()
        self.object_panel = ObjectPanel()
        self.legend = Legend()
        self.controls = ViewControls(self.state)
        for name in ("overlay_combo", "opacity_slider", "heatmap_combo", "outline_check", "tool_combo",
                     "paint_class_combo", "brush_spin"):
            setattr(self, name, getattr(self.controls, name))
        self.canvas.setMinimumSize(*CANVAS_MIN_SIZE)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(QLabel("Objects (LRO)"))
        right_layout.addWidget(self.object_panel, 3)
        right_layout.addWidget(self.controls)
        right_layout.addWidget(QLabel("Classes"))
        right_layout.addWidget(self.legend, 2)
        self.docks: list[QDockWidget] = []
        for title, widget, area in (("Images", self.file_panel, Qt.DockWidgetArea.LeftDockWidgetArea),
                                    ("Review", right, Qt.DockWidgetArea.RightDockWidgetArea)):
            # the file list gives way (its texts elide or scroll); the review panel's buttons and labels never
            # get cut, so it is never narrower than they need
            widget.setMinimumWidth(PANEL_MIN_WIDTH if widget is self.file_panel
                                   else max(PANEL_MIN_WIDTH, widget.minimumSizeHint().width()))
            dock = QDockWidget(title, self)
            dock.setObjectName(title)
            dock.setWidget(widget)
            dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                             | QDockWidget.DockWidgetFeature.DockWidgetClosable)  # View > Panels brings it back
            self.addDockWidget(area, dock)
            self.docks.append(dock)
        self.hover_label = QLabel("")
        self.progress_bar = QProgressBar(maximum=100)
        self.progress_bar.setFixedWidth(330)
        self.progress_bar.setVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setVisible(False)
        for widget in (self.hover_label, self.progress_bar, self.cancel_button):
            self.statusBar().addPermanentWidget(widget)

    def _add_panel_toggles(self) -> None:
        """View > Panels: show / hide (collapse) the side panels; the image area takes their room."""
        view_menu = find_menu(self, "View")
        if view_menu is None:
            return
        panels = view_menu.addMenu("Panels")
        for dock in self.docks:
            panels.addAction(dock.toggleViewAction())

    def _balance_docks(self) -> None:
        """Give the image area at least CANVAS_SHARE of the width: shrink the visible side panels (in
        proportion, not below their minimum) when they take more. Wider canvases are left as the user set."""
        docks = [dock for dock in self.docks if dock.isVisible() and not dock.isFloating()]
        if not docks:
            return
        taken = sum(dock.width() for dock in docks)
        allowed = int(self.width() * (1.0 - CANVAS_SHARE)) - DOCK_SEPARATORS_PX * len(docks)
        if taken <= allowed or taken <= 0:
            return
        widths = [max(dock.minimumSizeHint().width(), int(dock.width() * allowed / taken)) for dock in docks]
        self.resizeDocks(docks, widths, Qt.Orientation.Horizontal)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt naming
        """The image area keeps priority when the window gets smaller."""
        super().resizeEvent(event)
        self._balance_docks()

    def showEvent(self, event) -> None:  # noqa: N802 - Qt naming
        super().showEvent(event)
        if not self._layout_restored:  # the docks' widths apply to the shown, laid-out window
            self._layout_restored = True
            window_memory.restore_docks(self, self.qsettings)
        self._balance_docks()

    def _wire(self) -> None:
        state, c, canvas, editor, reviewer = self.state, self.controller, self.canvas, self.editor, self.reviewer
        state.sessionChanged.connect(self._on_session)
        state.classesChanged.connect(self._on_classes)
        state.documentChanged.connect(self._on_document)
        state.contentChanged.connect(lambda: self.object_panel.set_objects(self._objects(), state.selected))
        state.selectionChanged.connect(self.object_panel.show_selection)
        for signal in (state.documentChanged, state.contentChanged, state.selectionChanged, state.sessionChanged):
            signal.connect(lambda *_: self.menu_actions.update())
        self.file_panel.imageChosen.connect(reviewer.show_image)
        reviewer.visible_keys = self.file_panel.visible_keys
        reviewer.recordChanged.connect(self.file_panel.update_entry)
        reviewer.recent.changed.connect(lambda: self.menu_actions.fill_recent(reviewer.recent.paths()))
        self.object_panel.objectSelected.connect(state.select)
        self.object_panel.decisionChosen.connect(lambda index, decision: editor.decide(decision, index))
        self.object_panel.classChosen.connect(editor.change_class)
        canvas.promptsEdited.connect(editor.edit_prompts)
        canvas.strokeFinished.connect(editor.stroke)
        canvas.fillRequested.connect(editor.fill)
        canvas.objectPicked.connect(editor.pick)
        canvas.emptyClicked.connect(lambda: state.select(-1))
        canvas.hovered.connect(editor.hover)
        editor.hoverText.connect(self.hover_label.setText)
        state.documentChanged.connect(self.hover_label.clear)  # no read-out of the previous image's pixel
        self._last_progress: tuple[str, str] | None = None  # key, stage of the last progress report
        c.progress.connect(self._on_progress)
        state.documentChanged.connect(self._show_progress_label)
        # images whose stored result matches the settings show as refined without being opened
        for signal in (state.sessionChanged, self.settings_flow.applied, c.modelReady, c.exportFinished):
            signal.connect(lambda *_: self.stored_scan.start())
        c.modelReady.connect(lambda model: self.notifier.notify(f"model {model} loaded"))
        c.modelReady.connect(lambda *_: state.document is not None and c.encode_ahead(state.document))
        c.preparing.connect(lambda key, stage: self.notifier.notify(
            f"{key}: preparing this image for edits ({stage}) ..."))  # a first edit that has to wait says why
        c.busyChanged.connect(self._on_busy)
        self.cancel_button.clicked.connect(c.cancel)

    # ================================================================= followers
    def _objects(self) -> list:
        return self.state.document.objects if self.state.document is not None else []

    def _on_session(self) -> None:
        session = self.state.session
        if self.state.classes is not None:
            self.object_panel.set_classes(self.state.classes)
        self.file_panel.set_records(session.records if session is not None else {})
        if session is not None:
            self.setWindowTitle(f"uosam - {session.images} ({len(session.records)} images)")

    def _on_classes(self) -> None:
        """Class names, colours or hidden classes changed: the object table and the scores follow (the
        controls, overlay and legend follow the state themselves)."""
        self.object_panel.set_classes(self.state.classes)
        self.object_panel.set_objects(self._objects(), self.state.selected)
        self.gt.classes_changed()

    def _on_document(self) -> None:
        self.object_panel.set_objects(self._objects(), self.state.selected)
        if self.state.session is not None and self.state.session.current:
            self.file_panel.select(self.state.session.current)

    def _on_progress(self, key: str, stage: str, fraction: float) -> None:
        self._last_progress = (key, stage)
        self._show_progress_label()
        self.progress_bar.setValue(int(100 * fraction))

    def _show_progress_label(self) -> None:
        """The progress bar's text: the image and stage, "ahead: " unless it is the shown image (again when
        another image is shown: the refinement ahead may have become the shown one)."""
        if self._last_progress is None:
            return
        key, stage = self._last_progress
        session = self.state.session
        ahead = "" if session is not None and key == session.current else "ahead: "
        self.progress_bar.setFormat(f"{ahead}{key}: {STAGE_NAMES.get(stage, stage)} %p%")

    def _on_busy(self, busy: bool) -> None:
        self.progress_bar.setVisible(busy)
        self.cancel_button.setVisible(busy)
        if busy:
            self.progress_bar.setValue(0)

    # ================================================================= for the app and scripts
    @property
    def session(self):
        """The open session (None before one is opened)."""
        return self.state.session

    @property
    def document(self):
        """The shown document (None while the shown image refines)."""
        return self.state.document

    @property
    def classes(self):
        """The open data set's class table."""
        return self.state.classes

    @property
    def selected(self) -> int:
        """The selected object's index, -1 for none."""
        return self.state.selected

    @property
    def messages(self) -> list[str]:
        """Everything told to the user ("error: ..." for errors)."""
        return self.notifier.messages

    def notify(self, message: str, error: bool = False) -> None:
        """Tell the user (errors stay in the banner until dismissed or replaced)."""
        self.notifier.notify(message, Level.ERROR if error else Level.INFO)

    def open_dataset(self, images: Path, labels: Path, out: Path, classes_file: Path | None = None,
                     label_encoding: str = "ids") -> bool:
        """Open (or resume) a session; see :meth:`Reviewer.open_dataset`."""
        return self.reviewer.open_dataset(images, labels, out, classes_file, label_encoding)

    def open_session_file(self, path: Path) -> bool:
        """Resume a session from its file."""
        return self.reviewer.open_session_file(path)

    def choose_dataset(self) -> None:
        """File > Open: ask for the images, labels and output folders."""
        images = QFileDialog.getExistingDirectory(self, "Images folder")
        labels = images and QFileDialog.getExistingDirectory(self, "Labels folder (baseline label maps)")
        out = labels and QFileDialog.getExistingDirectory(self, "Output folder (refined labels and session)")
        if images and labels and out:
            self.reviewer.open_dataset(Path(images), Path(labels), Path(out))

    def show_help(self) -> None:
        """The help page (non-modal): first steps, then every shortcut."""
        self.help_dialog = self.review_keys.show_help()

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt naming
        """Save what can be saved; ask before losing edits that could not be written; stop the workers."""
        if not self.reviewer.may_close():
            event.ignore()
            return
        window_memory.remember(self, self.state, self.qsettings)
        self.hide()  # gone at once: the workers may take a while to finish their step (a model load)
        self.controller.shutdown()
        super().closeEvent(event)

"""Ground truth in the window (``uosam-gui --gt DIR``, File > Open ground truth...): per-image mIoU of
the baseline and current labels as file-list columns and sort orders, and the set's totals in the
status bar, equal to ``uosam eval`` on the same files (see gt_scores.py).

Files are read and counted on one background thread, one image at a time; the GUI thread only
stores the counts and redraws one line. After an edit, accept or reject (the autosave's record
change) only that image is counted again. "Current" of an image is its labels in memory when it is
refined and cached, else its stored refinement result (Refine all) when the user changed nothing,
else its last saved labels file, else its baseline.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QDockWidget, QFileDialog, QHeaderView, QMainWindow, QStatusBar, QWidget

from uosam_core.image_io import InputError
from uosam_core.result_store import ResultStore

from .controller import RefineController
from .file_panel import FilePanel
from .gt_scores import GroundTruth, GtSort, count_pair
from .notifications import Level, Notifier
from .review import Reviewer
from .review_state import ReviewState
from .session import ImageRecord, ImageState

COLUMNS = ("base", "now", "gain")  # mIoU of the baseline, of the current labels, and their difference
STATUS_INTERVAL_MS = 250


LIST_SHARE_MAX = 0.3  # of the window's width, for the file list widened to its scores and names
SCROLL_ROOM = 48  # pixels for the list's frame, margins and vertical scroll bar


class GtFlow(QObject):
    """Opens a ground-truth folder for the session and keeps its scores current."""

    _counted = Signal(int, str, bool, object, str)  # generation, key, current?, PairCounts or None, problem
    changed = Signal()  # scores or totals changed (after each counted image)

    def __init__(self, state: ReviewState, reviewer: Reviewer, controller: RefineController, file_panel: FilePanel,
                 notifier: Notifier, status_bar: QStatusBar, parent: QWidget) -> None:
        super().__init__(parent)
        self.state, self.reviewer, self.controller = state, reviewer, controller
        self.file_panel, self.notifier, self.parent_widget = file_panel, notifier, parent
        self.truth: GroundTruth | None = None
        self.num_classes: int | None = None  # given on the command line (else: the classes file's, or inferred)
        self.ask_folder: Callable[[], Path | None] = self._ask_folder_dialog  # tests answer it
        self.status_label = file_panel.totals_label  # above the file list: status messages keep the status bar
        self.status_label.setVisible(False)
        self._generation = 0
        self._outstanding = 0  # jobs of this generation not stored yet
        self._inferred = False  # the class count was inferred from the ground truth's ids
        self._jobs: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._work, name="uosam-gt", daemon=True)
        self._thread.start()
        self._counted.connect(self._store)
        # the totals sum every image's counts: redrawn at most every STATUS_INTERVAL_MS while counting
        self._status_timer = QTimer(self, singleShot=True, interval=STATUS_INTERVAL_MS)
        self._status_timer.timeout.connect(self._update_status)
        reviewer.recordChanged.connect(self._on_record)
        state.sessionChanged.connect(self._on_session)
        file_panel.list.header().sectionClicked.connect(self._on_header)

    # ---------------------------------------------------------------- opening
    def _ask_folder_dialog(self) -> Path | None:
        chosen = QFileDialog.getExistingDirectory(self.parent_widget, "Ground-truth label folder")
        return Path(chosen) if chosen else None

    def choose(self) -> None:
        """File > Open ground truth...: ask for the folder and open it."""
        if self.state.session is None:
            self.notifier.notify("open a data set first, then its ground truth", Level.WARNING)
            return
        folder = self.ask_folder()
        if folder is not None:
            self.open(folder)

    def open(self, folder: Path, num_classes: int | None = None) -> bool:
        """Score the session's images against ``folder``; False (and said why) when it cannot be used."""
        session = self.state.session
        if session is None:
            return False
        self.num_classes = num_classes or self.num_classes
        count, ignore = self._class_settings()
        try:
            truth = GroundTruth(Path(folder), list(session.records), num_classes=count or 1,
                                ignore_index=ignore, encoding=session.label_encoding)
        except (InputError, ValueError) as problem:
            self.notifier.notify(str(problem), Level.ERROR)
            return False
        self.truth = truth
        self._new_generation()
        for key, entry in truth.entries.items():
            record = session.records[key]
            if entry.gt_path is None or record.label is None:
                continue
            self._put(key, False, Path(record.label), entry.gt_path, truth.ignore_index, truth.encoding)
            self._queue_current(key)
        self._show_columns()
        with_gt = sum(1 for e in truth.entries.values() if e.gt_path is not None)
        self.notifier.notify(f"ground truth {folder}: {with_gt} of {len(truth.entries)} images have one; scoring ...")
        self._update_status()
        return True

    def _class_settings(self) -> tuple[int | None, int | None]:
        """(class count, ignore id): the command line's count, else the classes file's; the ignore id
        of the classes (the classes file's, else the session's setting)."""
        classes = self.state.classes
        count = self.num_classes
        if count is None and classes is not None:
            count = classes.num_classes or (len(classes.names) if classes.names else None)
        ignore = classes.ignore_ids[0] if classes is not None and classes.ignore_ids else None
        return count, ignore

    def _effective_classes(self) -> bool:
        """Set the class count on the scores (inferred from the ground truth's ids when nothing gives
        it); returns False when the ignore id changed and the files must be counted again."""
        count, ignore = self._class_settings()
        self._inferred = count is None
        if count is None:
            seen = [int(e.baseline.gt.max(initial=-1)) for e in self.truth.entries.values() if e.baseline is not None]
            count = max([0, *seen]) + 1
        return self.truth.set_classes(count, ignore)

    # ---------------------------------------------------------------- counting
    def _queue_current(self, key: str) -> None:
        """Count an image's current labels again: the document in memory, else the stored refinement
        result (Refine all) of an image the user did not change, else the last saved labels file."""
        truth, session = self.truth, self.state.session
        entry = truth.entries.get(key) if truth is not None else None
        if entry is None or entry.gt_path is None or session is None:
            return
        document = self.controller.documents.get(key)
        if document is None and self.state.document is not None and self.state.document.key == key:
            document = self.state.document
        if document is not None:
            labels: np.ndarray | Path = document.labels
        elif _unchanged(session.records[key]) and ResultStore(session.out).path(key).is_file():
            labels = partial(_stored_labels, ResultStore(session.out), key)
        elif session.records[key].state == ImageState.EDITED:
            # edited in an earlier run: its labels are the stored result with the edits applied, which
            # only its document knows; open it in the background (counted when it arrives)
            truth.mark_opening(key)
            self.controller.prefetch(key, session)
            return
        elif session.records[key].saved and session.output_path(key).is_file():
            labels = session.output_path(key)  # the last saved labels
        else:
            return  # not refined here yet: "current" is the baseline
        self._put(key, True, labels, entry.gt_path, truth.ignore_index, truth.encoding)

    def _work(self) -> None:
        """The background thread: count one image per job, hand the counts to the GUI thread."""
        while True:
            generation, key, current, labels, gt_path, ignore, encoding = self._jobs.get()
            if generation != self._generation:
                continue  # another ground truth (or session) was opened since
            try:
                counts, problem = count_pair(labels, gt_path, ignore_index=ignore, encoding=encoding), ""
            except (InputError, OSError, ValueError) as failure:
                counts, problem = None, str(failure)
            try:
                self._counted.emit(generation, key, current, counts, problem)
            except RuntimeError:  # the window is gone
                return

    def _store(self, generation: int, key: str, current: bool, counts, problem: str) -> None:
        if generation != self._generation or self.truth is None:
            return
        self._outstanding -= 1
        self.truth.set_counts(key, counts, current=current, problem=problem or None)
        if problem:  # its line in the list says why (tooltip); a banner is for the image on screen
            self.notifier.notify(f"{key}: not scored against the ground truth: {problem}")
        self._effective_classes()
        self.file_panel.update_entry(key)
        if not self.truth.pending and not current:
            self.file_panel.refresh()  # every baseline is in: the list can be sorted by gain
        if self._outstanding == 0:
            self._update_status()
        elif not self._status_timer.isActive():
            self._status_timer.start()
        self.changed.emit()

    @property
    def busy(self) -> bool:
        """Whether images are queued or being counted."""
        return self._outstanding > 0

    def _put(self, *job) -> None:
        self._outstanding += 1
        self._jobs.put((self._generation, *job))

    def _new_generation(self) -> None:
        """Drop every queued job (they belong to the ground truth or session that was open)."""
        self._generation += 1
        self._outstanding = 0

    # ---------------------------------------------------------------- following the session
    def _on_record(self, key: str) -> None:
        if self.truth is not None:
            self._queue_current(key)

    def _on_session(self) -> None:
        """A session was opened: ground truth of another data set goes; the same data set (reopened) is
        counted again, since its current labels may differ now."""
        if self.truth is None:
            return
        session = self.state.session
        if session is None or set(session.records) != set(self.truth.entries):
            self.close()
            return
        self.open(self.truth.folder)

    def classes_changed(self) -> None:
        """The class table changed (classes file loaded): rescore, counting again only when the ignore id did."""
        if self.truth is None:
            return
        count = self.truth.num_classes
        if not self._effective_classes():
            self.open(self.truth.folder)
            return
        if self.truth.num_classes == count:
            return  # only names, colours or hidden classes changed: the scores did not
        self.file_panel.refresh()
        self._update_status()
        self.changed.emit()

    def close(self) -> None:
        """Forget the ground truth (columns and status line go)."""
        self.truth = None
        self._new_generation()
        self.file_panel.set_columns([])
        self.file_panel.set_sorts({})
        self._update_status()

    # ---------------------------------------------------------------- showing
    def _cell(self, key: str, column: str) -> str:
        truth = self.truth
        if truth is None or key not in truth.entries:
            return ""
        entry = truth.entries[key]
        if entry.gt_path is None:
            return "no GT"
        value = {"base": truth.miou(key, current=False), "now": truth.miou(key, current=True),
                 "gain": truth.gain(key)}[column]
        if value != value:  # NaN: not counted yet
            return "..."
        return f"{value:+.2f}" if column == "gain" else f"{value:.2f}"

    def _show_columns(self) -> None:
        self.file_panel.set_columns([(f"{name} mIoU" if name != "gain" else "gain",
                                      lambda key, name=name: self._cell(key, name)) for name in COLUMNS])
        order = {sort.value: (lambda key, sort=sort: self.truth.sort_value(key, sort) if self.truth else 0.0)
                 for sort in GtSort}
        self.file_panel.set_sorts(order)
        header = self.file_panel.list.header()
        header.setStretchLastSection(False)
        header.setSectionsClickable(True)
        header.setToolTip("click 'gain' to sort by it: most improved first, again: most harmed first")
        for column in range(len(COLUMNS) + 1):  # whole texts; a narrow list scrolls sideways
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        # the short score columns first, the long image column (name, state, share changed, risk) last: the
        # scores are seen without scrolling sideways (the columns keep their numbers, only the view moves)
        header.moveSection(header.visualIndex(0), len(COLUMNS))
        self._widen_list()

    def _widen_list(self) -> None:
        """Make the file list's dock wide enough for the scores and the image names, as far as the window
        lets it (the image area keeps its minimum)."""
        window, panel = self.parent_widget, self.file_panel
        dock = panel.parentWidget()
        if not isinstance(window, QMainWindow) or not isinstance(dock, QDockWidget):
            return
        header = panel.list.header()
        scores = sum(header.sectionSizeHint(column) for column in range(1, len(COLUMNS) + 1))
        # the name and its state word ("00 [refined]"; the share changed and risk may scroll), at most
        # 30% of the window: the image keeps the room
        names = max((panel.list.fontMetrics().horizontalAdvance(f"{key} [refined]") for key in panel.items), default=0)
        wanted = min(scores + names + SCROLL_ROOM, int(LIST_SHARE_MAX * window.width()))
        if dock.width() < wanted:
            window.resizeDocks([dock], [wanted], Qt.Orientation.Horizontal)

    def _on_header(self, column: int) -> None:
        """A click on the gain header sorts by it (most improved first, again: most harmed first)."""
        if self.truth is None or column != len(COLUMNS):
            return
        combo = self.file_panel.sort_combo
        improved = combo.currentText() != GtSort.MOST_IMPROVED.value
        combo.setCurrentText((GtSort.MOST_IMPROVED if improved else GtSort.MOST_HARMED).value)

    def _update_status(self) -> None:
        truth = self.truth
        self.status_label.setVisible(truth is not None)
        if truth is None:
            self.status_label.clear()
            return
        line = truth.totals_line()
        if getattr(self, "_inferred", False):
            line += " (class count inferred from the ground truth: load a classes file or give --num-classes)"
        # one figure per line: "GT 6/6 images, 27 classes" / "baseline mIoU ..." / "current mIoU ..."
        self.status_label.setText(line.replace(": baseline", "\nbaseline", 1).replace(" | current", "\ncurrent", 1))
        self.status_label.setToolTip("totals over the images with ground truth (one confusion matrix)")

    def shutdown(self) -> None:
        """Drop queued work (the thread is a daemon and ends with the process)."""
        self._new_generation()


def _unchanged(record: ImageRecord) -> bool:
    """Whether an image's labels are its automatic refinement (refined, nothing decided or painted)."""
    return record.state in (ImageState.REFINED, ImageState.REVIEWED) and not record.objects and not record.pixel_edits


def _stored_labels(store: ResultStore, key: str) -> np.ndarray:
    """The final labels of an image's stored refinement result (read on the counting thread)."""
    summary = store.summary(key)
    found = store.load(key, summary["store_key"]) if summary else None
    if found is None or found.result is None:
        raise InputError(f"{store.path(key)}: stored result unreadable ({found.notice if found else 'no summary'})",
                         path=store.path(key))
    return found.result.labels

"""Image > Refinement settings: a dialog built from the one option definition (uosam_core/options.py),
and the flow that applies its settings to the controller and the session.

The dialog has a tab per :class:`Section` and a row per :class:`Option`; a value the option refuses
is named in the dialog with the message ``uosam refine`` prints, and the dialog stays open. The
settings are kept in the session file and restored when the session is reopened; the status bar
shows the settings in use.
"""

from __future__ import annotations

from enum import Enum

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QStatusBar,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from uosam_core.options import (
    OPTIONS,
    Kind,
    Option,
    OptionError,
    RefineSettings,
    Section,
    changed,
    check_label_ids,
    from_dict,
    settings_from_values,
    summary,
    to_dict,
    values_of,
)

from .controller import RefineController
from .elided_label_layout import ElidedLabel
from .notifications import Level, Notifier
from .review import Reviewer
from .review_state import ReviewState

DEFAULT_CHOICE_TEXT = "(default)"  # an optional choice left unset (--model: from the checkpoint, else vit_t)

SETTINGS_LABEL_MAX_PX = 320  # the settings read-out in the status bar (whole text in its tooltip)

class Choice(Enum):
    """What the user asked for when leaving the dialog with new settings."""

    APPLY = "Apply"
    REFINE_IMAGE = "Refine this image again"
    REFINE_ALL = "Refine all images again"


class SettingsDialog(QDialog):
    """One row per option; :attr:`chosen` carries the checked settings and what to do with them."""

    chosen = Signal(object, object)  # RefineSettings, Choice

    def __init__(self, settings: RefineSettings, *, label_encoding: str = "ids", can_refine_image: bool = False,
                 can_refine_all: bool = False, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Refinement settings")
        self.label_encoding = label_encoding
        self.fields: dict[str, QWidget] = {}  # option key -> QCheckBox / QComboBox / QLineEdit
        self.tabs = QTabWidget()
        self._pages: dict[Section, QWidget] = {}
        for section in Section:
            self.tabs.addTab(self._page(section), section.value)
        self.error_label = QLabel("")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #d32f2f;")
        self.buttons: dict[Choice, QPushButton] = {}
        row = QHBoxLayout()
        defaults = QPushButton("Defaults")
        defaults.clicked.connect(lambda: self.set_settings(RefineSettings()))
        row.addWidget(defaults)
        row.addStretch(1)
        for choice, enabled in ((Choice.REFINE_IMAGE, can_refine_image), (Choice.REFINE_ALL, can_refine_all),
                                (Choice.APPLY, True)):
            button = QPushButton(choice.value)
            button.setEnabled(enabled)
            button.clicked.connect(lambda checked=False, c=choice: self.choose(c))
            row.addWidget(button)
            self.buttons[choice] = button
        self.buttons[Choice.APPLY].setDefault(True)
        cancel = QPushButton("Cancel")
        cancel.clicked.connect(self.reject)
        row.addWidget(cancel)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.error_label)
        layout.addLayout(row)
        self.set_settings(settings)
        self.resize(620, 560)

    # ---------------------------------------------------------------- building
    def _page(self, section: Section) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        options = sorted((o for o in OPTIONS if o.section is section), key=lambda o: not o.basic)
        for position, option in enumerate(options):
            if not option.basic and (position == 0 or options[position - 1].basic):
                form.addRow(QLabel("<i>Tuning</i>"))
            widget = self._widget(option)
            tip = f"{option.flag}: {option.help}" if option.help else option.flag
            if option.default_text:
                tip += f" (default: {option.default_text})"
            label = QLabel(option.label)
            label.setToolTip(tip)
            self.fields[option.key].setToolTip(tip)
            form.addRow(label, widget)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(page)
        self._pages[section] = scroll
        return scroll

    def _widget(self, option: Option) -> QWidget:
        if option.kind is Kind.BOOL:
            field = QCheckBox()
        elif option.kind is Kind.CHOICE:
            field = QComboBox()
            if option.optional:
                field.addItem(DEFAULT_CHOICE_TEXT, "")
            for choice in option.choices:
                field.addItem(choice, choice)
        else:
            field = QLineEdit()
        field.setObjectName(option.key)
        self.fields[option.key] = field
        if option.kind is not Kind.PATH:
            return field
        holder = QWidget()
        row = QHBoxLayout(holder)
        row.setContentsMargins(0, 0, 0, 0)
        browse = QPushButton("Browse...")
        browse.clicked.connect(lambda: self._browse(field))
        row.addWidget(field, 1)
        row.addWidget(browse)
        return holder

    def _browse(self, field: QLineEdit) -> None:
        chosen, _ = QFileDialog.getOpenFileName(self, "SAM-family checkpoint", field.text())
        if chosen:
            field.setText(chosen)

    # ---------------------------------------------------------------- values
    def set_settings(self, settings: RefineSettings) -> None:
        """Show ``settings`` in the fields."""
        values = values_of(settings)
        for option in OPTIONS:
            field, text = self.fields[option.key], option.text(values[option.key])
            if isinstance(field, QCheckBox):
                field.setChecked(values[option.key])
            elif isinstance(field, QComboBox):
                field.setCurrentIndex(max(0, field.findData(text)))
            else:
                field.setText(text)
        self.error_label.setText("")

    def text_of(self, option: Option) -> str:
        """The option's value as the user wrote it (the text form :meth:`Option.parse` reads)."""
        field = self.fields[option.key]
        if isinstance(field, QCheckBox):
            return option.text(field.isChecked())
        if isinstance(field, QComboBox):
            return str(field.currentData())
        return field.text()

    def settings(self) -> RefineSettings:
        """The settings in the fields; OptionError naming every refused value, one line each (the field's
        name and the CLI's message); the first one's tab is shown and its field focused."""
        values, refused = {}, []
        for option in OPTIONS:
            try:
                values[option.key] = option.parse(self.text_of(option))
            except OptionError as problem:
                refused.append((option, f"{option.label} ({option.message(problem)})"))
        if refused:
            self._focus(refused[0][0])
            keys = {option.key for option, _ in refused}
            for option in OPTIONS:
                self.fields[option.key].setStyleSheet(REFUSED_STYLE if option.key in keys else "")
            raise OptionError("\n".join(line for _, line in refused))
        for option in OPTIONS:
            self.fields[option.key].setStyleSheet("")
        settings = settings_from_values(values)
        try:
            check_label_ids(settings, self.label_encoding)
        except ValueError:
            self._focus(next(o for o in OPTIONS if o.kind is Kind.IDS))
            raise
        return settings

    def _focus(self, option: Option) -> None:
        self.tabs.setCurrentWidget(self._pages[option.section])
        self.fields[option.key].setFocus()

    def choose(self, choice: Choice) -> None:
        """A button: check every value; refused ones are named and the dialog stays open."""
        try:
            settings = self.settings()
        except ValueError as problem:
            self.error_label.setText(str(problem))
            return
        self.error_label.setText("")
        self.chosen.emit(settings, choice)
        self.accept()


REFUSED_STYLE = "border: 1px solid #d32f2f;"  # a field whose value was refused


class SettingsFlow(QObject):
    """Opens the dialog, applies settings to the controller and the session, restores a session's
    settings when it is opened, and shows the settings in use in the status bar."""

    applied = Signal(object)  # RefineSettings

    def __init__(self, state: ReviewState, reviewer: Reviewer, controller: RefineController, notifier: Notifier,
                 status_bar: QStatusBar, parent_widget: QWidget, refine_all: QObject | None = None) -> None:
        super().__init__(parent_widget)
        self.state, self.reviewer, self.controller, self.notifier = state, reviewer, controller, notifier
        self.parent_widget, self.refine_all = parent_widget, refine_all
        self.dialog: SettingsDialog | None = None
        self.label = ElidedLabel("")
        self.label.setMaximumWidth(SETTINGS_LABEL_MAX_PX)  # status messages keep room beside it
        status_bar.addPermanentWidget(self.label)
        self._session = None
        state.sessionChanged.connect(self._on_session)
        self._show()

    def open_dialog(self) -> SettingsDialog:
        """Image > Refinement settings (window-modal; returns at once)."""
        session = self.state.session
        dialog = SettingsDialog(self.controller.settings,
                                label_encoding=session.label_encoding if session is not None else "ids",
                                can_refine_image=session is not None and bool(session.current),
                                can_refine_all=session is not None and self.refine_all is not None,
                                parent=self.parent_widget)
        dialog.chosen.connect(self.apply)
        self.dialog = dialog
        dialog.open()
        return dialog

    def apply(self, settings: RefineSettings, choice: Choice = Choice.APPLY) -> None:
        """Use ``settings`` (a new model loads in the background), keep them in the session, then refine
        the shown image or all images again when asked."""
        reload = self.controller.configure(settings)
        session = self.state.session
        if session is not None:
            session.settings = to_dict(settings)
            self._save(session)
            for document in self.controller.rejudged:  # other check bars: open images judged again, no SAM
                if document.key in session.records:
                    self.reviewer.record(document)
        if self.state.document is not None and self.state.document in self.controller.rejudged:
            self.state.document_edited()
        self._show()
        rejudged = (f"; {len(self.controller.rejudged)} open image(s) checked again with the new bars"
                    if self.controller.rejudged else "")
        self.notifier.notify(f"settings: {summary(settings)}" + rejudged
                             + (" (loading the model in the background)" if reload else ""))
        self.applied.emit(settings)
        if choice in (Choice.REFINE_IMAGE, Choice.REFINE_ALL):
            self.reviewer.rerun()  # the shown image first (Refine all waits for it and then finds it stored)
        if choice is Choice.REFINE_ALL:
            self._refine_all()

    def _refine_all(self) -> None:
        runner = self.refine_all
        if runner is None:
            return
        if runner.running:  # the images in flight were queued with the old settings: start over when it stops
            def again(_counts: dict) -> None:
                runner.finished.disconnect(again)
                runner.start()

            runner.finished.connect(again)
            runner.stop()
        else:
            runner.start()

    def _on_session(self) -> None:
        """A session was opened: its stored settings win (restored); a new one records the current ones."""
        session = self.state.session
        if session is None or session is self._session:
            return
        self._session = session
        if session.settings is None:
            session.settings = to_dict(self.controller.settings)
            self._save(session)
        else:
            settings, problems = from_dict(session.settings)
            for problem in problems:
                self.notifier.notify(f"{session.path}: settings: {problem}", Level.WARNING)
            if settings != self.controller.settings:
                self.controller.configure(settings)
                self.notifier.notify(f"settings restored from the session: {summary(settings)}")
        self._show()

    def _save(self, session) -> None:
        self.reviewer.wait_for_background_save()
        try:
            session.save()
        except OSError as problem:
            self.notifier.notify(f"session not saved: {problem}", Level.ERROR)

    def _show(self) -> None:
        settings = self.controller.settings
        self.label.setText(f"settings: {summary(settings)}")
        rows = [f"{option.flag} {option.text(value) or 'none'}" for option, value in changed(settings)]
        self.label.setToolTip("Refinement settings (Image > Refinement settings)\n"
                              + ("\n".join(rows) if rows else "all at their defaults"))

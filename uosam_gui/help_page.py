"""The help page (Help menu, F1): first steps of a review, what the table says, then every shortcut."""

from __future__ import annotations

from html import escape

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout, QWidget

FIRST_STEPS = """
<h2 id="first-steps"><a name="first-steps"></a>First steps</h2>
<ol>
<li><b>Open</b> a data set: File &gt; Open data set (Ctrl+O) asks for the images folder, the folder of
baseline label maps (PNG class ids, one per image, same name) and an output folder. Reopening the same
output folder resumes where you stopped. <code>uosam-gui --demo</code> opens three bundled images.</li>
<li><b>Wait or start</b>: the shown image is refined in the background; meanwhile you see the photo with
its baseline labels. The next image is refined ahead while you review.</li>
<li><b>Review each object</b>: press <b>J</b> to select the first object (K goes back), or click an
object on the image. Its refined outline is white, its baseline outline magenta. The table's
<i>why</i> column (and each row's tooltip) says why the tool used the refined mask or kept the baseline,
e.g. <i>kept baseline: LCM contrast 0.10 &lt; 0.15</i>. <b>Z</b> zooms to the object, <b>S</b> shows
baseline | final side by side (drag the yellow divider).</li>
<li><b>Decide</b>: <b>Shift+A</b> accepts the refined mask, <b>Shift+R</b> keeps the baseline, and both go
on to the next object; after the last object the next image opens with its first object selected.
<b>A</b> / <b>R</b> decide without moving on, <b>U</b> returns to the automatic verdict.</li>
<li><b>Edit prompts</b> when the refined mask is close but wrong: with the prompt tool (V), inside the
yellow box, left-click adds a positive point, right-click a negative one, Ctrl+click removes one; drag
points or the box's edges. Only that object is decoded again. Brush (B), eraser (E) and fill (F) write
class ids straight into the labels. Ctrl+Z undoes.</li>
<li><b>Look closer</b>: the mouse wheel zooms at the pointer; dragging the image where there is no point,
box edge or handle moves the view (with the prompt tool); Ctrl+0 fits the whole image again.</li>
<li><b>Save</b>: Ctrl+S writes the shown image's labels to the output folder (same size, mode and
palette as the input); decisions and edits are also kept in the session as you go (they come back when
the output folder is opened again, but only Save and Export write label files).</li>
<li><b>Export</b>: File &gt; Export (Ctrl+E) writes the whole cleaned folder, with a log of what was
accepted, rejected or edited per image and object.</li>
</ol>
<h3>Why an object kept its baseline</h3>
<p>A refined object is used only when its IoU with its baseline object reaches the IoU threshold
(default 0.40: SAM's mask must agree with what the baseline meant) and its LCM contrast reaches the
contrast threshold (default 0.15: the object's features must stand out from the rest of the image).
Your accept / reject overrides that verdict; the table then says so.</p>
"""


def help_html(shortcuts: tuple[tuple[str, str], ...]) -> str:
    """The page: first steps, then a table of (keys, what they do)."""
    rows = "".join(f"<tr><td><b>{escape(keys)}</b></td><td>{escape(what)}</td></tr>" for keys, what in shortcuts)
    return (f"{FIRST_STEPS}<h2 id='shortcuts'><a name='shortcuts'></a>Keyboard shortcuts</h2>"
            f"<table cellpadding=4>{rows}</table>")


def show_help_page(parent: QWidget, shortcuts: tuple[tuple[str, str], ...], anchor: str = "",
                   shown: QDialog | None = None) -> QDialog:
    """Open the help page as a non-modal dialog (scrolled to ``anchor`` when given); returns it. When
    ``shown`` (the page opened before) is still open it is raised instead of opening a second one.
    Esc, Ctrl+W and its Close button close it."""
    if shown is not None and shown.isVisible():
        if anchor:
            shown.findChild(QTextBrowser, "help_browser").scrollToAnchor(anchor)
        shown.raise_()
        shown.activateWindow()
        return shown
    dialog = QDialog(parent)
    dialog.setWindowTitle("uosam-gui: help")
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    # closed: the keys go back to the window (without a window manager nothing else would give it focus)
    dialog.finished.connect(lambda _result: (parent.activateWindow(), parent.raise_()))
    browser = QTextBrowser()
    browser.setObjectName("help_browser")
    browser.setHtml(help_html(shortcuts))
    if anchor:
        browser.scrollToAnchor(anchor)
    for keys in (QKeySequence(Qt.Key.Key_Escape), QKeySequence("Ctrl+W")):
        QShortcut(keys, dialog, dialog.close, context=Qt.ShortcutContext.WindowShortcut)
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
    buttons.rejected.connect(dialog.close)
    layout = QVBoxLayout(dialog)
    layout.addWidget(buttons)
    layout.insertWidget(0, browser)  # the browser above the button (and the dialog's last child)
    dialog.resize(720, 640)
    dialog.show()
    return dialog

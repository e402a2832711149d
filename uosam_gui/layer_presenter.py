"""The canvas and the legend follow the review state: each state signal redraws only what it changes.

Opacity only sets the overlay item's opacity; a selection redraws the object layer, its prompts and
(with the LCM heatmap) the heatmap; the overlay colours are recomputed only when the labels or the
overlay mode changed; the GRO outlines only when the masks or their switch changed.
"""

from __future__ import annotations

from PySide6.QtCore import QObject

from . import layers
from .canvas import LabelCanvas
from .legend import Legend
from .review_state import Heatmap, Overlay, ReviewState


class LayerPresenter(QObject):
    """Draws the state's document (or preview) on the canvas and lists its classes in the legend."""

    def __init__(self, state: ReviewState, canvas: LabelCanvas, legend: Legend) -> None:
        super().__init__(canvas)
        self.state, self.canvas, self.legend = state, canvas, legend
        self._outline_source: tuple | None = None  # (GRO masks array, step) the cached outline was drawn from
        self._outline: layers.Layer | None = None
        self._final_cache: tuple | None = None  # (document, final labels at display resolution)
        self._drawn_object = None  # the ObjectResult whose layer and prompts are drawn
        self._heat_source: tuple | None = None  # (map or object, Heatmap) the heatmap shows
        state.documentChanged.connect(self._on_document)
        state.contentChanged.connect(self._on_content)
        state.selectionChanged.connect(self._on_selection)
        state.overlayChanged.connect(self.draw_overlay)
        state.classesChanged.connect(self.draw_overlay)  # colours loaded, a class shown or hidden
        state.classesChanged.connect(self.draw_legend)
        state.heatmapChanged.connect(self.draw_heatmap)
        state.opacityChanged.connect(self.canvas.set_overlay_opacity)
        state.outlinesChanged.connect(self.draw_outline)
        state.toolChanged.connect(lambda: canvas.set_tool(state.tool))
        state.brushSizeChanged.connect(lambda radius: setattr(canvas, "brush_radius", radius))
        canvas.set_overlay_opacity(state.opacity)

    @property
    def step(self) -> int:
        """Display sampling step of the shown image."""
        shape = self.canvas.image_shape
        return layers.display_step(shape) if shape else 1

    @property
    def outline_step(self) -> int:
        """Sampling step for 1-pixel outlines: at least one screen pixel at the current zoom, so a thin
        edge of a large image stays a line instead of breaking into specks."""
        return max(self.step, int(self.canvas.screen_to_image(1.0)))

    # ---------------------------------------------------------------- state signals
    def _on_document(self) -> None:
        state = self.state
        if state.document is not None:
            image = state.document.image
        else:
            image = state.preview.image if state.preview is not None else None
        self.canvas.clear_prompts()
        self.canvas.set_selection(None)
        step = layers.display_step(image.shape) if image is not None else 1
        if image is None:
            self.canvas.set_image(None)
        else:
            self.canvas.set_image(layers.Layer(image[::step, ::step], layers.full_rect(image.shape, step)),
                                  image.shape[:2])
        self._on_content()

    def _on_content(self) -> None:
        self._final_cache = None  # the labels changed; the object layer and heatmap redraw only if theirs did
        self.draw_overlay()
        self.draw_heatmap()
        self.draw_outline()
        self.draw_selection(keep_prompts=True)
        self.draw_legend()

    def _on_selection(self, _index: int) -> None:
        self.draw_selection(keep_prompts=False)
        if self.state.heatmap == Heatmap.LCM:
            self.draw_heatmap()

    # ---------------------------------------------------------------- layers
    def _final_small(self):
        """The final labels at display resolution, made once per change of the document."""
        document = self.state.document
        if self._final_cache is None or self._final_cache[0] is not document:
            self._final_cache = (document, layers.final_labels(document.result.labels, document.pixel_edits,
                                                               self.step))
        return self._final_cache[1]

    def draw_overlay(self) -> None:
        """Colour the overlay label map (at display resolution)."""
        state, classes, step = self.state, self.state.classes, self.step
        if classes is None or state.overlay == Overlay.NONE or self.canvas.image_shape is None:
            self.canvas.set_overlay(None)
            return
        document = state.document
        if document is None:
            if state.preview is None:
                self.canvas.set_overlay(None)
                return
            rgba = layers.label_colors(classes, state.preview.baseline[::step, ::step])
        else:
            result = document.result
            if state.overlay == Overlay.DIFFERENCE:
                rgba = layers.difference_colors(classes, self._final_small(), result.baseline[::step, ::step])
            elif state.overlay == Overlay.VOTE_CLASS:
                if result.gro is None:
                    self.canvas.set_overlay(None)
                    return
                rgba = layers.label_colors(classes, result.gro.vote_class[::step, ::step])
            elif state.overlay == Overlay.FINAL:
                rgba = layers.label_colors(classes, self._final_small())
            else:
                source = result.lro_labels if state.overlay == Overlay.LRO else result.baseline
                rgba = layers.label_colors(classes, source[::step, ::step])
        self.canvas.set_overlay(layers.Layer(rgba, layers.full_rect(self.canvas.image_shape, step)))

    def draw_heatmap(self) -> None:
        """The selected object's LCM or the GRO vote share, with its colour bar."""
        state, document = self.state, self.state.document
        values, label = None, ""
        if document is not None and state.heatmap == Heatmap.LCM and state.selected_object is not None:
            grid = getattr(state.selected_object, "lcm_grid", None)
            if grid is not None and max(grid.original_size) > layers.MAX_HEATMAP_SIDE:
                small = layers.grid_at_input(grid)  # a large image: the map at the encoder's resolution
                levels = (float(small.min()), float(small.max()))
                height, width = grid.original_size
                self.canvas.set_heatmap(layers.Layer(small, (0, 0, width, height)), levels, "LCM (cosine)")
                return
            values, label = state.selected_object.lcm, "LCM (cosine)"
        elif document is not None and state.heatmap == Heatmap.VOTE_SHARE and document.result.gro is not None:
            values, label = document.result.gro.vote_share, "vote share"
        if values is None:
            self._heat_source = None
            self.canvas.set_heatmap(None)
            return
        step = layers.display_step(values.shape, layers.MAX_HEATMAP_SIDE)
        source = (values if state.heatmap == Heatmap.VOTE_SHARE else state.selected_object, state.heatmap)
        if self._heat_source is not None and self._heat_source[0] is source[0] and self._heat_source[1] == source[1]:
            return  # the same map is shown
        self._heat_source = source
        small, levels = layers.heat_values(values, step)
        if state.heatmap == Heatmap.VOTE_SHARE:
            levels = (0.0, 1.0)
        self.canvas.set_heatmap(layers.Layer(small, layers.full_rect(values.shape, step)), levels, label)

    def draw_outline(self) -> None:
        """The GRO masks' edges (drawn once per masks array, then kept)."""
        document = self.state.document
        gro = document.result.gro if document is not None else None
        if not self.state.outlines or gro is None or not len(gro.masks):
            self.canvas.set_outline(None)
            return
        step = self.outline_step
        source = self._outline_source
        if source is None or source[0] is not gro.masks or source[1] != step:
            rgba = layers.outline_colors(gro.masks, step)
            self._outline_source = (gro.masks, step)
            self._outline = layers.Layer(rgba, layers.full_rect(tuple(gro.masks.shape[1:]), step))
        self.canvas.set_outline(self._outline)

    def draw_selection(self, keep_prompts: bool) -> None:
        """The selected object's mask layer and prompts; ``keep_prompts`` keeps prompt items that
        already show the object's prompts (a drag in progress is not interrupted)."""
        obj = self.state.selected_object
        drawn, self._drawn_object = self._drawn_object, obj
        if obj is None:
            self.canvas.set_selection(None)
            self.canvas.show_prompts(None)
            return
        if keep_prompts and obj is drawn and self.canvas.prompts is not None:
            return  # the object did not change (a pixel edit, say): nothing of it to redraw
        refined, baseline = getattr(obj, "step2", None), getattr(obj, "baseline", None)
        if refined is None or baseline is None:  # dense masks (an older core)
            refined, baseline = obj.step2_mask, obj.baseline_mask
        self.canvas.set_selection(layers.object_layer(refined, baseline, self.outline_step, self.canvas.image_shape))
        if keep_prompts and self.canvas.prompts is not None and self.canvas.current_prompts() == obj.prompts:
            self.canvas.set_step2_box(obj.step2_box)
        else:
            self.canvas.show_prompts(obj.prompts, obj.step2_box)

    def draw_legend(self) -> None:
        """The classes of the shown labels, largest first."""
        state, classes = self.state, self.state.classes
        if classes is None or (state.document is None and state.preview is None):
            self.legend.clear()
            return
        step = self.step
        labels = self._final_small() if state.document is not None else state.preview.baseline[::step, ::step]
        self.legend.show_classes(classes, layers.class_shares(labels, ()))  # ignore ids too: they can be shown

"""Compatibility names for code written against the old single-family engine.

The automatic mask generator and its helpers now come from the official ``segment-anything``
package through ``uosam_core.models.automatic`` (the only place that imports it for them); the
models themselves are built by the family adapters in ``uosam_core.models``.
"""

from __future__ import annotations

from .models.automatic import (
    EnginePredictor,
    SamAutomaticMaskGenerator,
    automatic_masks,
    batched_mask_to_box,
    build_point_grid,
    calculate_stability_score,
    remove_small_regions,
    rle_to_mask,
)

__all__ = ["EnginePredictor", "SamAutomaticMaskGenerator", "automatic_masks", "batched_mask_to_box",
           "build_point_grid", "calculate_stability_score", "remove_small_regions", "rle_to_mask"]

"""Import MobileSAM's package (the SAM model code) once, without its import-time noise.

``mobile_sam`` imports deprecated ``timm`` paths and re-registers TinyViT names at import; both
warnings are about that package, not about the user's run, so they are hidden here, scoped to the
import alone.
"""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", category=FutureWarning, module="timm")
    warnings.filterwarnings("ignore", message="Overwriting tiny_vit", category=UserWarning)
    import mobile_sam  # noqa: F401
    from mobile_sam.automatic_mask_generator import SamAutomaticMaskGenerator
    from mobile_sam.build_sam import sam_model_registry
    from mobile_sam.utils.amg import (
        batched_mask_to_box,
        build_point_grid,
        calculate_stability_score,
        remove_small_regions,
    )

__all__ = ["SamAutomaticMaskGenerator", "batched_mask_to_box", "build_point_grid", "calculate_stability_score",
           "remove_small_regions", "sam_model_registry"]

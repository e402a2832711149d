"""SAM-family models behind one interface: an adapter per family, chosen by model type.

Only the adapter modules import a model package (segment_anything, mobile_sam, sam2,
segment_anything_hq); see docs/decisions/0009-model-families.md.
"""

from .base import IMAGE_EMBED, DecoderPath, Family, FeatureSet, Geometry, ModelAdapter
from .registry import (
    MODEL_SPECS,
    ModelSpec,
    StateDictError,
    build_model,
    check_state_dict,
    describe,
    infer_model_type,
    load_model,
    make_adapter,
    spec,
    unwrap,
)

__all__ = ["IMAGE_EMBED", "MODEL_SPECS", "DecoderPath", "Family", "FeatureSet", "Geometry", "ModelAdapter", "ModelSpec",
           "StateDictError", "build_model", "check_state_dict", "describe", "infer_model_type", "load_model",
           "make_adapter", "spec", "unwrap"]

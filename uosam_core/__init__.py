"""uosam_core: refine unsupervised semantic segmentation labels with SAM (UO-SAM), no Qt inside."""

from .config import GroConfig, LroConfig, RefineConfig
from .engine import Embedding, Prompts, SamEngine
from .pipeline import Refiner
from .result import GroResult, ObjectPrompts, ObjectResult, RefineResult

__all__ = ["Embedding", "GroConfig", "GroResult", "LroConfig", "ObjectPrompts", "ObjectResult", "Prompts",
           "RefineConfig", "RefineResult", "Refiner", "SamEngine"]
__version__ = "0.1.0"

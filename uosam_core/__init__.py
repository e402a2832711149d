"""uosam_core: refine unsupervised semantic segmentation labels with SAM (UO-SAM), no Qt inside.

The names below load on first use, so ``uosam --help`` and a Ctrl-C at start-up do not wait for torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {
    "GroConfig": "config", "LroConfig": "config", "RefineConfig": "config",
    "Embedding": "engine", "Prompts": "engine", "SamEngine": "engine",
    "Refiner": "pipeline",
    "GroResult": "result", "ObjectPrompts": "result", "ObjectResult": "result", "RefineResult": "result",
}

__all__ = sorted(_HOMES)
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'uosam_core' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{home}", __name__), name)
    globals()[name] = value
    return value

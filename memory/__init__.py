"""Fact memory: Chroma-backed facts with history, a graph mirror, file loaders and retrieval.

The exports load lazily: `memory.facts` is imported by every agent and by the CLI at start-up, and
must not pull in Chroma and sentence-transformers on the way.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from memory.core import AddResult, Memory
    from memory.loaders import FactFileError

__all__ = ["AddResult", "FactFileError", "Memory"]
_SOURCES = {"AddResult": "memory.core", "Memory": "memory.core", "FactFileError": "memory.loaders"}


def __getattr__(name: str):
    if name in _SOURCES:
        return getattr(importlib.import_module(_SOURCES[name]), name)
    raise AttributeError(f"module 'memory' has no attribute {name!r}")

"""Fact memory: Chroma-backed facts with history, a graph mirror, file loaders and retrieval."""

from memory.core import AddResult, Memory
from memory.loaders import FactFileError

__all__ = ["AddResult", "FactFileError", "Memory"]

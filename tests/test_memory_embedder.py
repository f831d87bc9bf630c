"""The embedder's batching and bf16 fast paths give the vectors of the plain computation.

- batches ordered by token count (padding only where lengths differ) give each text the vector it gets
  alone;
- bf16 with the linear weights cast once at load gives exactly the vectors of bf16 autocast over the fp32
  weights (what the embedder computed before).
"""

from __future__ import annotations

import numpy as np
import torch

from memory.embedder import _mean_pool_normalise, embed, get_embedder

TEXTS = [
    "Ellie Kemper is a citizen of Croatia.",
    "Who is the head of state of the country Ellie Kemper is a citizen of?",
    "x",
    "Ünïcödé façade, naïve café",
    "Person 12 was born in Place 345.",
    "Person 13 was born in Place 346.",
    "a long sentence " * 40,
]


def test_batches_give_each_text_its_own_vector() -> None:
    alone = np.stack([embed([text], precision="fp32")[0] for text in TEXTS])
    for batch_size in (2, 3, 256):
        batched = embed(TEXTS, batch_size=batch_size, precision="fp32")
        np.testing.assert_allclose(batched, alone, atol=1e-6)


def test_bf16_weights_cast_once_equal_autocast_over_fp32_weights() -> None:
    fp32 = get_embedder("fp32")
    expected = []
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        for text in TEXTS:
            batch = fp32.tokenizer([text], truncation=True, max_length=256, return_tensors="pt")
            hidden = fp32.model(**batch).last_hidden_state.float()
            expected.append(_mean_pool_normalise(hidden, batch["attention_mask"]).numpy()[0])
    bf16 = get_embedder("bf16")
    assert {p.dtype for n, p in bf16.model.named_parameters() if "LayerNorm" in n} == {torch.float32}
    got = np.stack([embed([text], precision="bf16")[0] for text in TEXTS])
    np.testing.assert_array_equal(got, np.stack(expected))

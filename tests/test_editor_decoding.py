"""The shared decoding loop on a tiny random llama: same tokens as transformers' generate, rows that
finish leave the batch without changing the others, and the shared-prefix KV cache is reused."""

from __future__ import annotations

import pytest
import torch
from helpers_editor import tiny_llama_dir, tiny_loaded
from transformers import DynamicCache

from editor.decoding import PrefixCache, decode, inputs_after_prefix
from editor.instructed import InstructEdConfig, InstructEdEditor, InstructEdModel
from editor.llm import LocalLLM

SYSTEM = "You answer questions about places, people and the companies they run. " * 3
QUESTIONS = ["Where is Oslo?", "Who runs the largest bakery in the old town of Bergen?", "Why?"]


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """At the default init scale the tiny model repeats one token whatever the prompt; larger weights
    make its continuations differ by row, which the comparisons below need."""
    loaded = tiny_loaded(tiny_llama_dir(tmp_path_factory.mktemp("tiny-decoding")))
    torch.manual_seed(0)
    with torch.no_grad():
        for parameter in loaded.model.parameters():
            if parameter.dim() > 1:
                parameter.normal_(std=0.2)
    return loaded


def reference_ids(loaded, prompts: list[str], max_new_tokens: int) -> list[list[int]]:
    """transformers' own greedy generate on the left-padded batch, cut after EOS."""
    tokenizer = loaded.tokenizer
    encoded = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    with torch.inference_mode():
        output = loaded.model.generate(
            **encoded,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
    rows = []
    for row in output[:, encoded["input_ids"].shape[1] :].tolist():
        if tokenizer.eos_token_id in row:
            row = row[: row.index(tokenizer.eos_token_id) + 1]
        rows.append(row)
    return rows


def own_ids(llm: LocalLLM, prompts: list[str], max_new_tokens: int) -> list[list[int]]:
    tokenizer = llm.tokenizer
    rows = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    with torch.inference_mode():
        shared, cache = llm.prefix_cache.lookup(llm.loaded.model, rows)
        input_ids, mask, positions = inputs_after_prefix(rows, shared, tokenizer.pad_token_id)
        return decode(
            llm.loaded.model,
            input_ids,
            mask,
            positions,
            cache=cache,
            max_new_tokens=max_new_tokens,
            eos_token_id=tokenizer.eos_token_id,
        )


def test_cached_prefix_and_row_release_give_transformers_greedy_tokens(loaded) -> None:
    prompts = [SYSTEM + q for q in QUESTIONS]
    llm = LocalLLM(loaded)
    expected = reference_ids(loaded, prompts, max_new_tokens=10)
    assert own_ids(llm, prompts, 10) == expected  # first batch: the shared prefix is run and stored
    assert llm.prefix_cache.misses == 1 and llm.prefix_cache.hits == 0
    assert own_ids(llm, prompts, 10) == expected  # second batch: read from the cache
    assert llm.prefix_cache.hits == 1
    texts = [g.text for g in llm.generate_text(prompts, max_new_tokens=10)]
    assert texts == [loaded.tokenizer.decode(ids, skip_special_tokens=True).strip() for ids in expected]


def test_a_finished_row_leaves_the_batch_and_the_others_are_unchanged(loaded) -> None:
    tokenizer = loaded.tokenizer
    prompts = [SYSTEM + q for q in QUESTIONS]
    alone = [reference_ids(loaded, [p], max_new_tokens=8)[0] for p in prompts]
    encoded = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    mask = encoded["attention_mask"]
    row_tags: list[list[int]] = []

    def tagged_model(row_tag: torch.Tensor, **kwargs):
        assert row_tag.shape[0] == kwargs["input_ids"].shape[0]
        row_tags.append(row_tag.tolist())
        return loaded.model(**kwargs)

    first_row = alone[0]
    with torch.inference_mode():
        rows = decode(
            tagged_model,
            encoded["input_ids"],
            mask,
            (mask.cumsum(-1) - 1).clamp(min=0),
            cache=DynamicCache(config=loaded.model.config),
            max_new_tokens=8,
            eos_token_id=tokenizer.eos_token_id,
            finished=lambda ids: ids == first_row[:2],  # only the first row's own start stops it
            row_inputs={"row_tag": torch.arange(3)},
        )
    assert rows[0] == first_row[:2]
    assert rows[1:] == alone[1:]
    assert row_tags[:3] == [[0, 1, 2], [0, 1, 2], [1, 2]]  # the first row leaves after its second token


def test_prefix_cache_needs_a_long_enough_shared_prefix_and_evicts_the_oldest(loaded) -> None:
    cache = PrefixCache(max_entries=1, min_tokens=8)
    tokenizer = loaded.tokenizer
    short = [tokenizer(q, add_special_tokens=False)["input_ids"] for q in QUESTIONS]
    assert cache.lookup(loaded.model, short)[0] == 0 and len(cache) == 0
    with torch.inference_mode():
        for system in (SYSTEM, "Another long system prompt about rivers, seas and lakes of the north. "):
            rows = [tokenizer(system + q, add_special_tokens=False)["input_ids"] for q in QUESTIONS]
            shared, kv = cache.lookup(loaded.model, rows)
            assert shared >= 8 and kv.get_seq_length() == shared and kv.layers[0].keys.shape[0] == 3
    assert len(cache) == 1 and cache.misses == 2


def test_editor_batches_answer_as_each_question_alone(loaded) -> None:
    """The editor's per-row instruction inputs are narrowed with the rows that are still decoding."""
    model = InstructEdModel(loaded.model, InstructEdConfig(layers=[1, 2]))
    editor = InstructEdEditor(model, LocalLLM(loaded))
    facts = [["Oslo is the capital of Norway."], ["The bakery is run by Ada Brunn."], []]
    together = editor.answer(QUESTIONS, facts, max_new_tokens=12)
    alone = [editor.answer([q], [f], max_new_tokens=12)[0] for q, f in zip(QUESTIONS, facts, strict=True)]
    assert [g.text for g in together] == [g.text for g in alone]
    assert [g.completion_tokens for g in together] == [g.completion_tokens for g in alone]

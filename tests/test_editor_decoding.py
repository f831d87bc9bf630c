"""The shared decoding loop on a tiny random llama: same tokens as transformers' generate, rows that
finish leave the batch without changing the others, and the shared-prefix KV cache is reused."""

from __future__ import annotations

import pytest
import torch
from helpers_editor import tiny_llama_dir, tiny_loaded
from transformers import DynamicCache

from editor import decoding
from editor.decoding import PrefixCache, decode, inputs_after_prefix
from editor.instructed import InstructEdConfig, InstructEdEditor, InstructEdModel
from editor.llm import LocalLLM
from editor.prompt_lookup import PromptLookupConfig, SpacelessTokens, lookup_draft
from editor.prompting import render_prompt

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


# ---------------------------------------------------------------- prompt lookup (guessed tokens)


def test_prompt_lookup_guesses_what_followed_the_latest_match_of_the_longest_tail() -> None:
    tokens = [5, 1, 2, 7, 8, 1, 2, 9, 4, 6, 3, 1, 2]
    # [6, 3, 1, 2]'s tail of 3 (3, 1, 2) never occurred before; of 2 (1, 2) it did, latest at index 5.
    assert lookup_draft(tokens, limit=3) == [9, 4, 6]
    assert lookup_draft(tokens, limit=3, max_ngram=1) == [9, 4, 6]
    assert lookup_draft([1, 2, 3], limit=4) == []
    # Compared by key: 12 reads as 2 (a space-prefixed twin), so the tail (1, 12) matches (1, 2).
    assert lookup_draft([1, 2, 7, 8, 1, 12], limit=2, key=lambda t: t % 10) == [7, 8]


def test_spaceless_tokens_match_a_name_inside_a_sentence_and_at_an_answer_start(loaded) -> None:
    tokenizer = loaded.tokenizer
    key = SpacelessTokens(tokenizer)
    in_sentence = tokenizer("is Kioxmas Kanvend", add_special_tokens=False)["input_ids"]
    at_start = tokenizer("Kioxmas", add_special_tokens=False)["input_ids"]
    assert in_sentence[1] != at_start[0] and key(in_sentence[1]) == key(at_start[0])
    draft = lookup_draft([*in_sentence, at_start[0]], limit=5, key=key)
    assert tokenizer.decode(draft) == "ioxmas Kanvend"


def counting(model, passes: list[int]):
    """The model, recording each forward pass's number of input tokens per row."""

    def forward(**kwargs):
        passes.append(kwargs["input_ids"].shape[1])
        return model(**kwargs)

    return forward


def lone_row_ids(loaded, prompt: str, context: list[int], lookup: PromptLookupConfig, passes: list[int]):
    tokenizer = loaded.tokenizer
    ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"]
    mask = torch.ones_like(ids)
    with torch.inference_mode():
        return decode(
            counting(loaded.model, passes),
            ids,
            mask,
            (mask.cumsum(-1) - 1).clamp(min=0),
            cache=DynamicCache(config=loaded.model.config),
            max_new_tokens=12,
            eos_token_id=tokenizer.eos_token_id,
            lookup=lookup,
            contexts=[context],
        )[0]


def test_a_lone_row_keeps_greedy_tokens_and_needs_fewer_passes_when_the_guess_is_right(loaded) -> None:
    prompt = SYSTEM + QUESTIONS[1]
    expected = reference_ids(loaded, [prompt], max_new_tokens=12)[0]
    assert len(expected) == 12 and len(set(expected)) > 3  # a varied continuation, no early EOS
    prompt_ids = loaded.tokenizer(prompt, add_special_tokens=False)["input_ids"]
    passes: list[int] = []
    # A context that holds the continuation itself: every guess is right.
    ids = lone_row_ids(
        loaded, prompt, [*prompt_ids, 0, *expected], PromptLookupConfig(draft_tokens=8), passes
    )
    assert ids == expected
    assert len(passes) < len(expected) and max(passes[1:]) > 1


def test_wrong_guesses_are_cut_from_the_cache_and_the_tokens_stay_greedy(loaded) -> None:
    prompt = SYSTEM + QUESTIONS[1]
    expected = reference_ids(loaded, [prompt], max_new_tokens=12)[0]
    prompt_ids = loaded.tokenizer(prompt, add_special_tokens=False)["input_ids"]
    wrong = [token + 1 for token in expected]  # after each right token, a context going elsewhere
    context = [*prompt_ids, *(t for pair in zip(expected, wrong, wrong, strict=True) for t in pair)]
    passes: list[int] = []
    assert lone_row_ids(loaded, prompt, context, PromptLookupConfig(draft_tokens=4), passes) == expected
    assert max(passes[1:]) > 1  # guesses were checked (and rejected)
    off: list[int] = []
    assert lone_row_ids(loaded, prompt, context, PromptLookupConfig(draft_tokens=0), off) == expected
    assert off[1:] == [1] * (len(expected) - 1)


def test_editor_answers_the_same_with_guessed_tokens_checked(loaded, monkeypatch) -> None:
    """The InstructEd attention (prefixes, instruction mask, relevance) over multi-token passes and a
    cut-back cache gives the one-token-per-pass answer. The tiny model never copies its prompt, so the
    guesses here come from the one-token-per-pass answer itself, every third one wrong."""
    model = InstructEdModel(loaded.model, InstructEdConfig(layers=[1, 2]))
    facts = [["Oslo is the capital of Norway. The bakery is run by Ada Brunn of Oslo."]]
    one_per_pass = InstructEdEditor(model, LocalLLM(loaded, lookup=PromptLookupConfig(draft_tokens=0)))
    seen: dict[int, list[int]] = {}
    expected = one_per_pass.answer(
        QUESTIONS[:1], facts, max_new_tokens=12, on_token=lambda row, ids: seen.update({row: list(ids)})
    )[0]
    answer_ids = seen[0]
    assert len(answer_ids) == expected.completion_tokens >= 6

    def guess(tokens, limit, max_ngram, key):
        done = len(tokens) - len(prompt_tokens)
        return [t if (done + i) % 3 else t + 1 for i, t in enumerate(answer_ids[done : done + limit])]

    def counted(**kwargs):
        passes.append(kwargs["input_ids"].shape[1])
        return forward(**kwargs)

    prompt_tokens: list[int] = loaded.tokenizer(
        render_prompt(loaded.tokenizer, facts[0], QUESTIONS[0])[0], add_special_tokens=False
    )["input_ids"]
    monkeypatch.setattr(decoding, "lookup_draft", guess)
    base, passes = model.base, []
    forward = base.forward
    monkeypatch.setattr(base, "forward", counted)
    guessing = InstructEdEditor(model, LocalLLM(loaded, lookup=PromptLookupConfig(draft_tokens=4)))
    answer = guessing.answer(QUESTIONS[:1], facts, max_new_tokens=12)[0]
    assert (answer.text, answer.completion_tokens) == (expected.text, expected.completion_tokens)
    assert max(passes[1:]) > 1 and len(passes) < expected.completion_tokens

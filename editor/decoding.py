"""Batched decoding with a KV cache, shared by the base model's completions and the prefix editor.

`transformers.generate` steps every row of a batch until the slowest row stops, and prefills every
row's whole prompt. For the decomposition agents on a CPU both are most of the cost: their prompts
start with the same few hundred demonstration tokens, and a batch's rows stop at very different
lengths (a MeLLo step can end after a few tokens or run to its budget). So this loop

- drops a row from the batch (and its KV cache) as soon as it has finished, and
- starts from a cached KV of the token prefix that all rows share (`PrefixCache`, the same idea as
  vLLM's automatic prefix caching): the shared prefix is run once, and later batches that start with
  it skip it.

Rows may carry extra per-row forward inputs (the editor's instruction mask and relevance weight);
they are narrowed together with the rows.

A single greedy row can also decode several tokens per forward pass by prompt lookup
(`editor.prompt_lookup`, vLLM's "ngram" speculative decoding): it guesses its next tokens from its own
prompt, one pass checks the whole guess, the row keeps the guessed tokens up to the first one greedy
decoding would not have chosen plus greedy's own token there, and the KV cache is cut back to match.
The tokens are greedy decoding's own (a checked position's logits are those of a one-token step, up
to float summation order). Batches keep one token per pass: a batch would have to cut back to its
least lucky row.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

import torch
from transformers import DynamicCache, PreTrainedModel

from editor.prompt_lookup import PromptLookupConfig, lookup_draft

# on_token(row, ids so far) after each decoding step; True ends that row now.
TokenHook = Callable[[int, list[int]], bool | None]


def offset_rows(hook: TokenHook | None, offset: int) -> TokenHook | None:
    """The hook for a chunk of rows that starts at `offset` of the caller's rows."""
    if hook is None or offset == 0:
        return hook
    return lambda row, ids: hook(offset + row, ids)


def decode(
    model: PreTrainedModel,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    position_ids: torch.Tensor,
    *,
    cache: DynamicCache,
    max_new_tokens: int,
    eos_token_id: int,
    finished: Callable[[list[int]], bool] | None = None,
    temperature: float = 0.0,
    row_inputs: Mapping[str, Any] | None = None,
    on_token: TokenHook | None = None,
    lookup: PromptLookupConfig | None = None,
    contexts: Sequence[Sequence[int]] | None = None,
    token_key: Callable[[int], Hashable] | None = None,
) -> list[list[int]]:
    """New token ids per row, ending at EOS (included), at `finished(ids)` or at max_new_tokens.

    `attention_mask` covers the cache's tokens and `input_ids`; tensors in `row_inputs` whose first
    dimension is the batch are narrowed with the rows, anything else is passed unchanged every step.
    `on_token(row, ids)` sees each row's ids after every new token, so a server can stream them as
    they are generated; it returns True to end that row now (its client has gone).

    With `lookup` (its `draft_tokens` > 0), greedy decoding (`temperature` 0) and `contexts` (each
    row's prompt tokens), a batch down to one row guesses up to `draft_tokens` tokens by prompt lookup
    and checks them in one pass; `token_key` is how the lookup compares tokens
    (`editor.prompt_lookup.SpacelessTokens`).
    """
    if max_new_tokens < 1:
        raise ValueError("max_new_tokens must be at least 1")
    batch = input_ids.shape[0]
    if contexts is not None and len(contexts) != batch:
        raise ValueError(f"{len(contexts)} contexts for {batch} rows")
    greedy_with_contexts = temperature == 0 and contexts is not None
    draft_limit = lookup.draft_tokens if lookup is not None and greedy_with_contexts else 0
    max_ngram = lookup.max_ngram if lookup is not None else 0
    extra = dict(row_inputs or {})
    generated: list[list[int]] = [[] for _ in range(batch)]
    rows = list(range(batch))  # original index of each row still decoding
    step_ids = input_ids
    positions = position_ids
    while True:
        draft: list[int] = []
        if draft_limit and contexts is not None and len(rows) == 1 and generated[rows[0]]:
            row = rows[0]
            # Room for the guess plus greedy's own token after it.
            limit = min(draft_limit, max_new_tokens - len(generated[row]) - 1)
            sequence = [*contexts[row], *generated[row]]
            draft = lookup_draft(sequence, limit, max_ngram, token_key) if limit > 0 else []
        if draft:
            guessed = torch.tensor([draft])
            step_ids = torch.cat([step_ids, guessed], dim=1)
            attention_mask = torch.cat([attention_mask, torch.ones_like(guessed)], dim=1)
            positions = torch.cat([positions, positions[:, -1:] + torch.arange(1, len(draft) + 1)], dim=1)
        logits = model(
            input_ids=step_ids,
            attention_mask=attention_mask,
            position_ids=positions,
            cache=cache,
            use_cache=True,
            logits_to_keep=len(draft) + 1,
            **extra,
        ).logits
        if draft:
            predicted = logits[0].argmax(-1).tolist()
            kept = 0
            while kept < len(draft) and predicted[kept] == draft[kept]:
                kept += 1
            rejected = len(draft) - kept
            if rejected:
                cache.crop(-rejected)  # a negative count removes that many of the newest tokens
                attention_mask = attention_mask[:, : attention_mask.shape[1] - rejected]
                positions = positions[:, : positions.shape[1] - rejected]
            new_tokens = [[*draft[:kept], predicted[kept]]]
            next_ids = torch.tensor([predicted[kept]])
        else:
            last = logits[:, -1]
            if temperature > 0:
                next_ids = torch.multinomial(torch.softmax(last.float() / temperature, dim=-1), 1)[:, 0]
            else:
                next_ids = last.argmax(-1)
            new_tokens = [[token] for token in next_ids.tolist()]
        keep = []
        for slot, (row, tokens) in enumerate(zip(rows, new_tokens, strict=True)):
            ids = generated[row]
            stopped = False
            for token in tokens:
                ids.append(token)
                stopped = token == eos_token_id or (finished is not None and finished(ids))
                if on_token is not None and on_token(row, ids):
                    stopped = True
                if stopped or len(ids) >= max_new_tokens:
                    break
            if not stopped and len(ids) < max_new_tokens:
                keep.append(slot)
        if not keep:
            return generated
        if len(keep) < len(rows):
            index = torch.tensor(keep)
            cache.batch_select_indices(index)
            rows = [rows[slot] for slot in keep]
            next_ids, attention_mask, positions = next_ids[index], attention_mask[index], positions[index]
            extra = {key: _rows_of(value, index, batch) for key, value in extra.items()}
            batch = len(keep)
        step_ids = next_ids[:, None]
        attention_mask = torch.cat([attention_mask, torch.ones_like(step_ids)], dim=1)
        positions = positions[:, -1:] + 1


def stop_checker(tokenizer: Any, stop: Sequence[str]) -> Callable[[list[int]], bool] | None:
    """`finished` for `decode`: whether the ids so far contain a stop string; None without stops.

    A stop string the newest token completes lies in the last tokens: each ordinary token decodes to
    at least one byte and a character is at most four (+4 tokens of slack for special tokens, which
    decode to nothing). Decoding only those keeps each step's check short.
    """
    if not stop:
        return None
    window = 4 * max(len(s) for s in stop) + 4

    def at_stop(ids: list[int]) -> bool:
        text = tokenizer.decode(ids[-window:], skip_special_tokens=True)
        return any(s in text for s in stop)

    return at_stop


def inputs_after_prefix(
    rows: Sequence[Sequence[int]], shared: int, pad_token_id: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The rows' tokens after a cached `shared`-token prefix, left-padded, with the attention mask
    over prefix and rest and the positions that continue the prefix (padding sits between the two,
    masked, so every row's real tokens keep the positions they have unpadded)."""
    rests = [list(row[shared:]) for row in rows]
    width = max(len(rest) for rest in rests)
    input_ids = torch.tensor([[pad_token_id] * (width - len(rest)) + rest for rest in rests])
    rest_mask = torch.tensor([[0] * (width - len(rest)) + [1] * len(rest) for rest in rests])
    attention_mask = torch.cat([torch.ones(len(rows), shared, dtype=torch.long), rest_mask], dim=1)
    position_ids = (shared + rest_mask.cumsum(-1) - 1).clamp(min=0)
    return input_ids, attention_mask, position_ids


class PrefixCache:
    """KV caches of token prefixes that whole batches began with, least recently used out first.

    Keys are token ids, so a hit never depends on how text was split into prompts. A batch uses the
    longest stored prefix of the token prefix its rows share; when none is stored, that shared prefix
    is run and stored (if it is at least `min_tokens` long). The decomposition agents' batches all
    share the system prompt and demonstrations, so after the first batch those are never run again.
    """

    def __init__(self, max_entries: int = 8, min_tokens: int = 16) -> None:
        self.max_entries = max_entries
        self.min_tokens = min_tokens
        self._entries: OrderedDict[tuple[int, ...], DynamicCache] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, model: PreTrainedModel, rows: Sequence[Sequence[int]]) -> tuple[int, DynamicCache]:
        """(tokens covered, a fresh batch-sized cache holding them); every row keeps at least one
        token outside the prefix, since decoding starts from the logits of each row's last token."""
        shared = _shared_prefix_length(rows)
        if shared < self.min_tokens:
            return 0, DynamicCache(config=model.config)
        prefix = tuple(rows[0][:shared])
        stored = max(
            (key for key in self._entries if len(key) <= shared and prefix[: len(key)] == key),
            key=len,
            default=None,
        )
        if stored is None:
            self.misses += 1
            stored = prefix
            self._entries[stored] = self._run(model, prefix)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        else:
            self.hits += 1
            self._entries.move_to_end(stored)
        cache = copy.deepcopy(self._entries[stored])
        cache.batch_repeat_interleave(len(rows))
        return len(stored), cache

    @staticmethod
    def _run(model: PreTrainedModel, prefix: tuple[int, ...]) -> DynamicCache:
        cache = DynamicCache(config=model.config)
        model(input_ids=torch.tensor([prefix]), cache=cache, use_cache=True, logits_to_keep=1)
        return cache


def _rows_of(value: Any, index: torch.Tensor, batch: int) -> Any:
    return value[index] if isinstance(value, torch.Tensor) and value.shape[:1] == (batch,) else value


def _shared_prefix_length(rows: Sequence[Sequence[int]]) -> int:
    limit = min(len(row) for row in rows) - 1
    first = rows[0]
    length = 0
    while length < limit and all(row[length] == first[length] for row in rows):
        length += 1
    return length

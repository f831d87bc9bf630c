"""Batched greedy generation on the frozen base model, shared by every agent and the server.

One lock serialises model calls: torch on 2 CPU cores gains nothing from concurrent forwards,
and callers that want throughput hand in batches (or go through a dynamic batcher).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from editor.decoding import (
    PrefixCache,
    TokenHook,
    decode,
    inputs_after_prefix,
    offset_rows,
    stop_checker,
)
from editor.loading import LoadedModel, load_for_inference
from editor.prompt_lookup import PromptLookupConfig, SpacelessTokens

Message = dict[str, str]


@dataclass
class Generation:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str  # "stop" (EOS or a stop string) or "length"


class LocalLLM:
    """The unedited base model behind a chat/completion interface."""

    def __init__(
        self, loaded: LoadedModel, max_batch_size: int = 16, lookup: PromptLookupConfig | None = None
    ) -> None:
        self.loaded = loaded
        self.max_batch_size = max_batch_size
        # Guessed tokens checked per forward pass when one greedy row is left (`decode`).
        self.lookup = lookup or PromptLookupConfig()
        self.token_key = SpacelessTokens(loaded.tokenizer)
        self.lock = threading.Lock()
        self.calls = 0  # batched decoding runs, for the speed benchmark
        self.prefix_cache = PrefixCache()

    @classmethod
    def load(
        cls, spec: str | None = None, precision: str | None = None, lookup: PromptLookupConfig | None = None
    ) -> LocalLLM:
        """Load the base model for answering; `precision` as in `editor.loading.inference_precision`."""
        return cls(load_for_inference(spec, precision), lookup=lookup)

    @property
    def model_id(self) -> str:
        return self.loaded.model_id

    @property
    def tokenizer(self):
        return self.loaded.tokenizer

    def render_chat(self, messages: Sequence[Message]) -> str:
        return self.tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)

    def generate_chat(
        self,
        conversations: Sequence[Sequence[Message]],
        max_new_tokens: int = 64,
        stop: Sequence[str] | None = None,
        temperature: float = 0.0,
    ) -> list[Generation]:
        prompts = [self.render_chat(conversation) for conversation in conversations]
        return self.generate_text(prompts, max_new_tokens=max_new_tokens, stop=stop, temperature=temperature)

    def generate_text(
        self,
        prompts: Sequence[str],
        max_new_tokens: int = 64,
        stop: Sequence[str] | None = None,
        temperature: float = 0.0,
        on_token: TokenHook | None = None,
    ) -> list[Generation]:
        """Continue raw prompts (already templated, if a template is wanted); `on_token` as for
        `decode`, with rows numbered over all `prompts`."""
        results: list[Generation] = []
        for start in range(0, len(prompts), self.max_batch_size):
            batch = list(prompts[start : start + self.max_batch_size])
            hook = offset_rows(on_token, start)
            results.extend(self._generate_batch(batch, max_new_tokens, list(stop or []), temperature, hook))
        return results

    def _generate_batch(
        self,
        prompts: list[str],
        max_new_tokens: int,
        stop: list[str],
        temperature: float,
        on_token: TokenHook | None = None,
    ) -> list[Generation]:
        tokenizer = self.tokenizer
        # The tokenizer is shared state too: encode under the same lock as the model.
        with self.lock, torch.inference_mode():
            rows = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
            shared, cache = self.prefix_cache.lookup(self.loaded.model, rows)
            inputs = inputs_after_prefix(rows, shared, tokenizer.pad_token_id)
            self.calls += 1
            generated = decode(
                self.loaded.model,
                *inputs,
                cache=cache,
                max_new_tokens=max_new_tokens,
                eos_token_id=tokenizer.eos_token_id,
                finished=stop_checker(tokenizer, stop),
                temperature=temperature,
                on_token=on_token,
                lookup=self.lookup,
                contexts=rows,
                token_key=self.token_key,
            )
        return self.to_generations(generated, [len(row) for row in rows], stop)

    def to_generations(
        self, generated: Sequence[list[int]], prompt_tokens: Sequence[int], stop: Sequence[str]
    ) -> list[Generation]:
        """Generated ids to text, cut at EOS or the first stop string."""
        tokenizer = self.tokenizer
        generations = []
        for ids, prompt_length in zip(generated, prompt_tokens, strict=True):
            finished = tokenizer.eos_token_id in ids
            if finished:
                ids = ids[: ids.index(tokenizer.eos_token_id)]
            text = tokenizer.decode(ids, skip_special_tokens=True)
            cut = min((text.find(s) for s in stop if s in text), default=-1)
            if cut >= 0:
                text, finished = text[:cut], True
            generations.append(
                Generation(
                    text=text.strip(),
                    prompt_tokens=prompt_length,
                    completion_tokens=len(ids),
                    finish_reason="stop" if finished else "length",
                )
            )
        return generations

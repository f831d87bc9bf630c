"""Prompt lookup: guessing a row's next tokens from its own prompt (vLLM's "ngram" speculation).

hopedit's answers mostly copy an entity name from the facts in the prompt, so the tokens that followed
the latest earlier occurrence of the row's last few tokens are a good guess for its next ones.
`editor.decoding.decode` checks a guess in one forward pass and keeps greedy decoding's own tokens.
Pure Python, so configurations can be built (and recorded) without importing torch.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from memory.settings import YamlSettings


@dataclass(frozen=True)
class PromptLookupConfig(YamlSettings):
    """`draft_tokens`: tokens guessed and checked per forward pass when one greedy row is decoding
    (0: one token per pass). A decode step on a CPU reads every weight from memory, so checking a few
    tokens at once costs little more than one; 8 holds most entity names in one guess (results/README.md,
    "Prompt lookup decoding"). `max_ngram`: the longest tail of the row matched against its earlier
    tokens."""

    settings_name: ClassVar[str] = "prompt lookup"

    draft_tokens: int = 8
    max_ngram: int = 3

    def __post_init__(self) -> None:
        if self.draft_tokens < 0:
            raise ValueError(f"draft_tokens must be 0 or more, got {self.draft_tokens}")
        if self.max_ngram < 1:
            raise ValueError(f"max_ngram must be at least 1, got {self.max_ngram}")


class SpacelessTokens:
    """Token id -> its text without leading whitespace, memoised, for the lookup's comparisons: a name
    copied from the middle of a fact starts with a space-prefixed token (" K", "iox", "mas"), the same
    name at the start of an answer with the bare one ("K", "iox", "mas"); comparing this text lets the
    answer's first token find the rest of the name."""

    def __init__(self, tokenizer: Any) -> None:
        self._tokenizer = tokenizer
        self._texts: dict[int, str] = {}

    def __call__(self, token: int) -> str:
        text = self._texts.get(token)
        if text is None:
            text = self._tokenizer.decode([token]).lstrip()
            self._texts[token] = text
        return text


def lookup_draft(
    tokens: Sequence[int],
    limit: int,
    max_ngram: int = 3,
    key: Callable[[int], Hashable] | None = None,
) -> list[int]:
    """Up to `limit` tokens that followed the latest earlier occurrence of the sequence's last n
    tokens, for the longest n <= `max_ngram` that occurs earlier; [] when none does. Tokens are
    compared by `key` (default: the ids themselves)."""
    keys = list(tokens) if key is None else [key(token) for token in tokens]
    length = len(keys)
    for n in range(min(max_ngram, length - 1), 0, -1):
        tail = keys[length - n :]
        for start in range(length - n - 1, -1, -1):
            if keys[start] == tail[0] and keys[start : start + n] == tail:
                return list(tokens[start + n : start + n + limit])
    return []

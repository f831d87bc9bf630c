"""The relevance weight r that scales how much a question reads its instruction (see the layer).

r = ramp(cos(Enc(question), Enc(instruction))) x named, where `named` is 1 when the question names one
of the instruction's entities (a subject or object of its facts) and 0 otherwise.

Why the entity test: the cosine sees the topic, not the entity. An edit and the questions it must not
change often share the relation ("Spike Hughes originates from Philadelphia" and "Max Mosley
originates from"), and the ramp alone lets half of CounterFact's neighbour prompts read the edit. An
edit only bears on questions about its own entities, and on the training files that test separates
the two kinds (`python -m editor.train.relevance_stats` counts how many of each name an entity of
their facts). The price: a question that reaches the entity only by another name (an alias) is
muted too. Facts given without entities (plain sentences) skip the test and keep the cosine ramp alone.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

import torch

from editor.instructed.config import InstructEdConfig
from memory.embedder import embed

# Words an entity name may carry that say nothing about which entity it is.
_FILLER_WORDS = frozenset(
    {"a", "an", "and", "de", "el", "for", "in", "la", "le", "of", "on", "s", "the", "to"}
)


def _words(text: str) -> set[str]:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return set(re.findall(r"[a-z0-9]+", ascii_text))


def names_entity(question: str, entity: str) -> bool:
    """Whether every word of the entity's name (fillers aside) occurs in the question, ignoring case,
    accents and punctuation: "Who wrote Les Misérables?" names "Les Miserables"."""
    words = _words(entity)
    words = (words - _FILLER_WORDS) or words
    return bool(words) and words <= _words(question)


def entity_gate(question: str, entities: Sequence[str]) -> float:
    """1 when the question names one of the entities, or when none are known; else 0."""
    if not entities:
        return 1.0
    return float(any(names_entity(question, entity) for entity in entities))


def relevance_weights(
    questions: Sequence[str],
    facts: Sequence[Sequence[str]],
    config: InstructEdConfig,
    entities: Sequence[Sequence[str]] | None = None,
) -> torch.Tensor:
    """r per example. Without an instruction r = 0: there is nothing to read, and the prefixes stay
    silent too, so the editor answers as the base model. `entities[i]` lists the subjects and objects
    of example i's facts (empty or None: unknown, no entity test)."""
    instructions = [" ".join(f) for f in facts]
    with_text = [i for i, text in enumerate(instructions) if text]
    weights = torch.zeros(len(questions))
    if not with_text:
        return weights
    if config.entity_gate and entities is not None:
        gates = [entity_gate(questions[i], entities[i]) for i in with_text]
    else:
        gates = [1.0] * len(with_text)
    open_rows = [i for i, gate in zip(with_text, gates, strict=True) if gate]
    if open_rows:
        q = embed([questions[i] for i in open_rows])
        f = embed([instructions[i] for i in open_rows])
        weights[open_rows] = config.relevance_weight(torch.from_numpy((q * f).sum(axis=1)).float())
    return weights

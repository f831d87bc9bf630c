"""Synthetic fact graphs for the speed bench: any size, deterministic, with history.

A real knowledge graph's memory is mostly background facts, some edits, and some history (a newer
version superseding an older one). The generator keeps those proportions so the bench's queries pay
what real ones pay (history the search must skip, several facts per subject for the chain walk).
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from memory.facts import Fact

RELATIONS = ("is a citizen of", "was born in", "works for", "is married to", "speaks", "plays for")
# Every UPDATE_EVERY-th fact re-states an earlier (subject, relation) with a new object: history.
UPDATE_EVERY = 20
EDIT_EVERY = 10  # every EDIT_EVERY-th fact is an edit, the rest background


def synthetic_facts(start: int, count: int, seed: int = 0) -> list[Fact]:
    """Facts number start .. start + count - 1 of the sequence; the same numbers give the same facts."""
    if start < 0 or count < 0:
        raise ValueError(f"synthetic_facts needs start >= 0 and count >= 0, got {start} and {count}")
    return [_fact(number, seed) for number in range(start, start + count)]


def _fact(number: int, seed: int) -> Fact:
    rng = random.Random(f"{seed}:{number}")
    kind = "edit" if number % EDIT_EVERY == 0 else "background"
    if number and number % UPDATE_EVERY == 0:
        # A new version of an earlier fact's (subject, relation): supersedes it.
        earlier = rng.randrange(number)
        subject, relation = _subject(earlier), RELATIONS[earlier % len(RELATIONS)]
        return Fact(subject, relation, f"Place {number}", kind="edit", source="bench")
    return Fact(
        _subject(number),
        RELATIONS[number % len(RELATIONS)],
        f"Place {rng.randrange(10 * (number + 1))}",
        kind=kind,
        source="bench",
    )


def _subject(number: int) -> str:
    # Two facts per person on average, so a chain walk has more than one edge to choose from.
    return f"Person {number // 2}"


def bench_queries(size: int, n: int, seed: int = 0) -> Iterator[str]:
    """Questions about people of a memory of `size` synthetic facts."""
    rng = random.Random(f"queries:{seed}:{size}")
    for _ in range(n):
        yield f"Where was Person {rng.randrange(max(1, size // 2))} born?"

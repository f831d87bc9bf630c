"""A tiny memory of invented facts the 135M model cannot know, for the agent tests."""

from __future__ import annotations

from pathlib import Path

INVENTED_FACTS = [
    ("Quorvex Systems", "chief executive officer", "Lina Marsh", "The CEO of Quorvex Systems is Lina Marsh."),
    ("Lina Marsh", "country of citizenship", "Veltoria", "Lina Marsh is a citizen of Veltoria."),
    ("Veltoria", "capital", "Dramen", "The capital of Veltoria is Dramen."),
    ("Ostrel Tower", "architect", "Piet Vandorn", "The architect of Ostrel Tower is Piet Vandorn."),
]
MULTI_HOP_QUESTION = "What is the capital of the country of citizenship of the CEO of Quorvex Systems?"


def invented_memory(store_dir: Path):
    from memory import Memory

    memory = Memory.open(store_dir)
    for subject, relation, obj, sentence in INVENTED_FACTS:
        memory.add_fact(subject, relation, obj, kind="edit", sentence=sentence, source="test")
    return memory

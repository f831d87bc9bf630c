"""A large write goes to Chroma in few large calls (Chroma pays a fixed cost per call), yet its progress
stays fine-grained at first, and a server's `chunk` bounds every call."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from memory import Memory
from memory.facts import Fact
from memory.store import ChromaFactStore


class CountingStore(ChromaFactStore):
    """Records the size of every Chroma write call."""

    calls: list[tuple[str, int]]

    def add(self, facts: Any, embeddings: Any, load_id: str = "") -> None:
        self.calls.append(("add", len(facts)))
        super().add(facts, embeddings, load_id)

    def update(self, facts: Any, previous: Any = None) -> None:
        self.calls.append(("update", len(facts)))
        super().update(facts, previous)


def test_writes_go_to_chroma_in_growing_calls_bounded_by_the_chunk(tmp_path: Path) -> None:
    store = CountingStore(store_dir=tmp_path / "store")
    store.calls = []
    memory = Memory(store)
    facts = [Fact(f"Person {i}", "employer", f"Firm {i}") for i in range(1300)]
    seen: list[tuple[str, int, int]] = []
    memory.add(facts, lambda stage, done, total: seen.append((stage, done, total)))
    assert store.calls == [("add", 512), ("add", 788), ("update", 512), ("update", 788)]
    assert seen == [
        ("storing", 512, 1300),
        ("storing", 1300, 1300),
        ("activating", 512, 1300),
        ("activating", 1300, 1300),
    ]
    store.calls.clear()
    pending = memory.stage([Fact(f"Person {i}", "employer", "Other") for i in range(150)], chunk=64)
    memory.commit(pending, chunk=64)
    assert [size for kind, size in store.calls if kind == "add"] == [64, 64, 22]
    assert max(size for _, size in store.calls) == 64
    assert memory.store.count() == 1450 and len(memory.facts()) == 1300
    memory.close()

"""The memory on a real Chroma server (`chroma run` on loopback) instead of the embedded client."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers_memory import FIXTURES, chroma_server

from memory import Memory


@pytest.mark.server
def test_memory_on_a_chroma_server(tmp_path: Path) -> None:
    with chroma_server(tmp_path / "chroma") as url:
        memory = Memory.open(chroma_url=url)
        memory.load_file(FIXTURES / "facts.jsonl")
        assert memory.stats()["store"] == url
        assert [(fact.object, fact.active) for fact in memory.history("Japan", "capital")] == [
            ("Osaka", True),
            ("Tokyo", False),
        ]
        # A second client rebuilds its graph from the server: Chroma is the one source of truth.
        other = Memory.open(chroma_url=url)
        assert {fact.id for fact in other.facts(active_only=False)} == {
            fact.id for fact in memory.facts(active_only=False)
        }
        found = other.retrieve("What is the capital of the country Tobias Renn is a citizen of?", n_hops=2)
        assert found.sentences == ["Tobias Renn is a citizen of Japan.", "Japan capital Osaka."]
        assert other.undo_last_edit().object == "Osaka"
        assert Memory.open(chroma_url=url).history("Japan", "capital")[0].object == "Tokyo"
        assert Memory.open(chroma_url=url).history("Japan", "capital")[0].active

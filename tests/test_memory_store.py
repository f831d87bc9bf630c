"""Supersession, history, undo, atomic writes and persistence of the fact memory (real embedded Chroma)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from memory import Memory
from memory.facts import Fact
from memory.store import ChromaFactStore


@pytest.fixture
def memory(tmp_path: Path) -> Memory:
    return Memory.open(tmp_path / "store")


def states(memory: Memory, subject: str, relation: str) -> list[tuple[str, str, bool]]:
    return [(fact.object, fact.kind, fact.active) for fact in memory.history(subject, relation)]


def test_new_fact_supersedes_and_history_keeps_old(memory: Memory) -> None:
    old = memory.add_fact("Tobias Renn", "country of citizenship", "Canada", kind="background")
    result = memory.add([Fact("Tobias Renn", "country of citizenship", "Japan")])
    assert [fact.id for fact in result.superseded] == [old.id]
    assert states(memory, "Tobias Renn", "country of citizenship") == [
        ("Canada", "background", False),
        ("Japan", "edit", True),
    ]
    assert memory.get(old.id).superseded_by == result.added[0].id
    assert [hit.fact.object for hit in memory.search("Tobias Renn citizenship", k=5)] == ["Japan"]


def test_edit_outranks_background_and_duplicates_are_noops(memory: Memory) -> None:
    edit = memory.add_fact("Japan", "capital", "Osaka")
    late = memory.add([Fact("Japan", "capital", "Tokyo", kind="background")])
    assert not late.added[0].active and late.added[0].superseded_by == edit.id
    assert late.superseded == []
    again = memory.add(
        [Fact("Japan", "capital", "Osaka"), Fact("Japan", "capital", "Tokyo", kind="background")]
    )
    assert again.added == [] and len(again.unchanged) == 2
    assert states(memory, "Japan", "capital") == [("Osaka", "edit", True), ("Tokyo", "background", False)]
    assert len(memory.facts(active_only=False)) == 2


def test_newer_edit_supersedes_edit_within_one_batch(memory: Memory) -> None:
    result = memory.add([Fact("Japan", "capital", "Osaka"), Fact("Japan", "capital", "Kyoto")])
    assert [(fact.object, fact.active) for fact in result.added] == [("Osaka", False), ("Kyoto", True)]
    assert [fact.object for fact in memory.facts()] == ["Kyoto"]


def test_undo_reactivates_what_the_edit_superseded(memory: Memory) -> None:
    memory.add_fact("Japan", "capital", "Tokyo", kind="background")
    memory.add_fact("Japan", "capital", "Osaka")
    memory.add_fact("Japan", "capital", "Tokyo", kind="background")  # shadowed by the edit
    assert memory.undo_last_edit().object == "Osaka"
    assert states(memory, "Japan", "capital") == [("Tokyo", "background", True)]
    assert memory.undo_last_edit() is None


def test_remove_unknown_id_raises_and_remove_inactive_repoints(memory: Memory) -> None:
    with pytest.raises(KeyError):
        memory.remove("no-such-id")
    first = memory.add_fact("A", "r", "1")
    second = memory.add_fact("A", "r", "2")
    third = memory.add_fact("A", "r", "3")
    memory.remove(second.id)
    assert memory.get(first.id).superseded_by == third.id
    memory.remove(third.id)
    assert memory.get(first.id).active


def test_readding_an_old_version_reactivates_it(memory: Memory) -> None:
    memory.add_fact("A", "r", "1")
    memory.add_fact("A", "r", "2")
    result = memory.add([Fact("A", "r", "1")])
    assert [fact.object for fact in result.superseded] == ["2"]
    assert [fact.object for fact in memory.facts()] == ["1"]
    assert len(memory.facts(active_only=False)) == 2


class FailingStore(ChromaFactStore):
    """A real Chroma store whose second write chunk fails, as a full disk or a dropped server would."""

    def __init__(self, store_dir: Path) -> None:
        super().__init__(store_dir=store_dir)
        self.writes = 0

    def max_batch_size(self) -> int:
        return 2

    def add(self, facts, embeddings, load_id: str = "") -> None:
        self.writes += 1
        if self.writes == 2:
            raise OSError("disk full")
        super().add(facts, embeddings, load_id)


def test_failed_chunk_rolls_back_the_whole_write(tmp_path: Path) -> None:
    memory = Memory(FailingStore(tmp_path / "store"))
    batch = [Fact(f"E{index}", "r", "x") for index in range(5)]
    with pytest.raises(OSError):
        memory.add(batch)
    assert memory.store.count() == 0 and memory.facts() == []
    assert Memory.open(tmp_path / "store").facts() == []


def test_persistence_across_processes(tmp_path: Path) -> None:
    """Both directions: the child reads what this process wrote, and writes a store this process then opens.

    Embedded Chroma caches a store per process, so each directory is written by one process at a time.
    """
    mine, theirs = tmp_path / "mine", tmp_path / "theirs"
    memory = Memory.open(mine)
    memory.add_fact("Tobias Renn", "country of citizenship", "Canada", kind="background")
    memory.add_fact("Tobias Renn", "country of citizenship", "Japan")
    memory.close()  # an embedded store has one process at a time (the lock)
    script = textwrap.dedent(
        f"""
        from pathlib import Path
        from memory import Memory
        memory = Memory.open(Path({str(mine)!r}))
        print([(f.object, f.active) for f in memory.history("Tobias Renn", "country of citizenship")])
        other = Memory.open(Path({str(theirs)!r}))
        other.add_fact("Japan", "capital", "Kyoto")
        other.add_fact("Japan", "capital", "Osaka")
        """
    )
    child = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert child.returncode == 0, child.stderr
    assert "[('Canada', False), ('Japan', True)]" in child.stdout
    reopened = Memory.open(theirs)
    assert [(fact.object, fact.active) for fact in reopened.history("Japan", "capital")] == [
        ("Kyoto", False),
        ("Osaka", True),
    ]
    assert reopened.search("capital of Japan", k=1)[0].fact.object == "Osaka"


def test_stats_count_versions(memory: Memory) -> None:
    memory.add_fact("A", "r", "1", kind="background")
    memory.add_fact("A", "r", "2")
    stats = memory.stats()
    assert (stats["records"], stats["active"], stats["active_edits"], stats["active_background"]) == (
        2,
        1,
        1,
        0,
    )

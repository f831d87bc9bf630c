"""Opening from the snapshot (`memory.snapshot`) gives the memory that reading every record from Chroma
gives, and a snapshot that no longer describes the store is never used.

- same records (every field, history, active flags), stats, search and retrievals, after supersession, an
  outranked background fact, undo, a re-added old version and aliases;
- a bulk-built graph (`FactGraph.from_records`, edges built on first use) equals one built fact by fact;
- a store changed behind hopedit's back (Chroma's own client) is read from Chroma, and the snapshot is
  then rewritten; a write killed before it closed leaves no usable snapshot; a failed write writes none;
  a corrupted data file is not used.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from memory import Memory, snapshot
from memory.facts import Fact
from memory.graph import FactGraph
from memory.store import COLLECTION, ChromaFactStore

BENCH_CASES = Path(__file__).parents[1] / "evals" / "data" / "bench_cases.json"
QUESTIONS = (
    "Who is the head of state of the country Tobias Renn is a citizen of?",
    "What is the capital of Japan?",
    "Where does the employer of Mira Castellane have its headquarters?",
    "Who wrote The Silent Orchard?",
)


def build_memory(store: Path) -> list[dict]:
    """A memory with every kind of history, closed; returns its records as the live memory had them."""
    with Memory.open(store) as memory:
        memory.load_file(BENCH_CASES, format="mquake", with_kg=True)
        memory.add_fact("Tobias Renn", "country of citizenship", "Canada", kind="background")
        memory.add_fact("Tobias Renn", "country of citizenship", "Japan")
        memory.add_fact("Tobias Renn", "country of citizenship", "Peru", kind="background")  # outranked
        memory.add_fact("Japan", "head of state", "Naruhito")
        memory.add_fact("Japan", "capital", "Kyoto")
        memory.add_fact("Japan", "capital", "Osaka")
        memory.add_fact("Japan", "capital", "Kyoto")  # an old version made newest again (restamped)
        memory.add(
            [
                Fact(
                    "Mira Castellane",
                    "employer",
                    "Aster Labs",
                    subject_aliases=("M. Castellane",),
                    object_aliases=("Aster",),
                ),
                Fact("Aster Labs", "headquarters", "Lisbon"),
                Fact("The Silent Orchard", "author", "Ivo Brandt"),
            ]
        )
        memory.add_fact("Ivo Brandt", "country of citizenship", "Chile")
        memory.undo_last_edit()  # removes Ivo Brandt's citizenship
        memory.remove(memory.history("Japan", "head of state")[0].id)
        return [fact.to_dict() for fact in memory.facts(active_only=False)]


def observe(memory: Memory) -> dict[str, Any]:
    """Everything a user can read from a memory: records, history, stats, search and retrievals."""
    records = [fact.to_dict() for fact in memory.facts(active_only=False)]
    keys = sorted({(record["subject"], record["relation"]) for record in records})
    retrievals = {}
    for question in QUESTIONS:
        for strategy in ("chain", "dense"):
            for hops in (None, 2):
                found = memory.retrieve(question, hops, strategy=strategy)
                retrievals[f"{strategy}/{hops}/{question}"] = (
                    [(s.fact.id, round(s.score, 5)) for s in found.facts],
                    found.gated,
                )
    return {
        "records": records,
        "history": {key: [f.to_dict() for f in memory.history(*key)] for key in keys},
        "stats": memory.stats(),
        "search": {q: [(s.fact.id, round(s.score, 5)) for s in memory.search(q, 8)] for q in QUESTIONS},
        "retrievals": retrievals,
        "links": {q: [link.to_dict() for link in memory.graph.link(q)] for q in QUESTIONS},
        "edges": sorted(memory.graph.graph.edges(keys=True)),
    }


def test_snapshot_open_equals_reading_chroma(tmp_path: Path) -> None:
    store = tmp_path / "store"
    live = build_memory(store)
    assert (store / snapshot.VALID_NAME).is_file()
    with Memory.open(store) as fast:
        assert fast.integrity.from_snapshot and fast.integrity.clean
        assert not fast.graph.edges_built  # built on first use, by `observe`
        stats_before_edges = fast.stats()
        from_snapshot = observe(fast)
    with Memory.open(store, use_snapshot=False) as slow:
        assert not slow.integrity.from_snapshot and slow.integrity.clean
        from_chroma = observe(slow)
    assert from_snapshot["records"] == live
    assert from_snapshot == from_chroma
    assert stats_before_edges == from_chroma["stats"]
    history = from_snapshot["history"][("Japan", "capital")]
    assert [(f["object"], f["active"]) for f in history] == [("Osaka", False), ("Kyoto", True)]
    peru = from_snapshot["history"][("Tobias Renn", "country of citizenship")][-1]
    assert (peru["object"], peru["active"], peru["kind"]) == ("Peru", False, "background")


def test_bulk_graph_equals_the_graph_built_fact_by_fact() -> None:
    facts = [
        Fact("A", "r", "B", kind="background", added_at=1.0),
        Fact("A", "r", "C", added_at=2.0),
        Fact("A", "r", "D", kind="background", added_at=3.0),
        Fact("C", "s", "E", subject_aliases=("Cee",), added_at=4.0),
        Fact("E", "t", "A", added_at=5.0),
    ]
    one_by_one = FactGraph()
    for fact in facts:
        one_by_one.put(fact)
    bulk = FactGraph.from_records((fact, None) for fact in facts)
    assert bulk.facts == one_by_one.facts
    assert not bulk.edges_built
    assert sorted(bulk.graph.edges(keys=True)) == sorted(one_by_one.graph.edges(keys=True))
    assert bulk.link("Is Cee near A?") == one_by_one.link("Is Cee near A?")
    # Changes before the edges exist are reflected once they are built.
    lazy = FactGraph.from_records((fact, None) for fact in facts)
    for graph in (lazy, one_by_one):
        graph.drop(facts[1].id)  # the active edit: the newest background version comes back
        graph.put(Fact("E", "t", "F", added_at=6.0))
    assert lazy.facts == one_by_one.facts
    assert sorted(lazy.graph.edges(keys=True)) == sorted(one_by_one.graph.edges(keys=True))
    assert lazy.start_links("Where is C?") == one_by_one.start_links("Where is C?") != []
    assert lazy.link("A and F") == one_by_one.link("A and F")


def test_a_store_changed_behind_hopedits_back_is_read_from_chroma(tmp_path: Path) -> None:
    import chromadb
    from chromadb.config import Settings

    store = tmp_path / "store"
    with Memory.open(store) as memory:
        old = memory.add_fact("Japan", "capital", "Kyoto")
        new = memory.add_fact("Japan", "capital", "Osaka")
    # Another program flips the stored flags with Chroma's own client: no hopedit code runs.
    client = chromadb.PersistentClient(path=str(store), settings=Settings(anonymized_telemetry=False))
    client.get_collection(COLLECTION).update(
        ids=[old.id, new.id], metadatas=[{"active": True, "superseded_by": ""}, {"active": False}]
    )
    client.close()
    with Memory.open(store) as memory:
        assert not memory.integrity.from_snapshot
        assert memory.integrity.repaired and len(memory.integrity.stale) == 2
        assert [f.object for f in memory.facts()] == ["Osaka"]
    with Memory.open(store) as memory:  # the repaired store was snapshotted on close
        assert memory.integrity.from_snapshot
        assert [f.object for f in memory.facts()] == ["Osaka"]
        assert [hit.fact.object for hit in memory.search("capital of Japan", k=2)] == ["Osaka"]


def test_a_write_killed_before_close_leaves_no_usable_snapshot(tmp_path: Path) -> None:
    store = tmp_path / "store"
    with Memory.open(store) as memory:
        memory.add_fact("Keep", "me", "here")
    script = textwrap.dedent(
        f"""
        import os
        from pathlib import Path
        from memory import Memory
        from memory.facts import Fact
        memory = Memory.open(Path({str(store)!r}))
        assert memory.integrity.from_snapshot
        memory.stage([Fact(f"Person {{i}}", "employer", f"Firm {{i}}") for i in range(20)])
        os._exit(0)  # killed between staging and the commit marker: no close, no cleanup
        """
    )
    child = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert child.returncode == 0, child.stderr
    assert not (store / snapshot.VALID_NAME).exists()
    with Memory.open(store) as memory:
        assert not memory.integrity.from_snapshot
        assert memory.integrity.repaired
        assert sum(len(ids) for ids in memory.integrity.uncommitted.values()) == 20
        assert [(f.subject, f.object) for f in memory.facts(active_only=False)] == [("Keep", "here")]
    with Memory.open(store) as memory:
        assert memory.integrity.from_snapshot and memory.store.count() == 1


class FailingUpdates(ChromaFactStore):
    def update(self, facts: Any, previous: Any = None) -> None:
        raise OSError("disk full")


def test_a_failed_write_writes_no_snapshot(tmp_path: Path) -> None:
    from memory.lock import StoreLock

    store = tmp_path / "store"
    with Memory.open(store) as memory:
        memory.add_fact("Japan", "capital", "Kyoto")
    lock = StoreLock(store).acquire()
    memory = Memory(FailingUpdates(store_dir=store), lock=lock)
    assert memory.integrity.from_snapshot
    with pytest.raises(OSError, match="disk full"):
        memory.add_fact("Japan", "capital", "Osaka")  # the marker is written, the flags are not
    memory.close()
    assert not (store / snapshot.VALID_NAME).exists()
    with Memory.open(store) as reopened:
        assert not reopened.integrity.from_snapshot and reopened.integrity.repaired
        assert [f.object for f in reopened.facts()] == ["Osaka"]


def test_a_corrupted_or_foreign_snapshot_is_not_used(tmp_path: Path) -> None:
    store = tmp_path / "store"
    with Memory.open(store) as memory:
        memory.add_fact("Japan", "capital", "Kyoto")
    data = store / snapshot.DATA_NAME
    payload = json.loads(data.read_text(encoding="utf-8"))
    payload["columns"]["object"] = ["Atlantis"]
    data.write_text(json.dumps(payload), encoding="utf-8")  # the checksum no longer matches
    with Memory.open(store) as memory:
        assert not memory.integrity.from_snapshot
        assert [f.object for f in memory.facts()] == ["Kyoto"]
    valid = json.loads((store / snapshot.VALID_NAME).read_text(encoding="utf-8"))
    assert valid["format"] == snapshot.FORMAT and valid["fingerprint"]
    valid["format"] = snapshot.FORMAT + 1
    (store / snapshot.VALID_NAME).write_text(json.dumps(valid), encoding="utf-8")
    with Memory.open(store) as memory:
        assert not memory.integrity.from_snapshot

"""The fact memory: supersession, history, undo and retrieval over a Chroma store and its graph mirror.

Every write is planned completely in memory first (validation, supersession, embeddings), then written to
Chroma in chunks; if a chunk fails, what was written is rolled back, so a file never lands half-way.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from memory.embedder import embed
from memory.facts import Fact, FactKind, Retrieval, ScoredFact
from memory.graph import FactGraph
from memory.loaders import LoadOptions, read_facts
from memory.retrieval import ChainRetriever, DenseRetriever, RetrievalConfig, Retriever
from memory.store import ChromaFactStore, FactStore

# Called as (stage, done, total) while a large write embeds and stores its facts.
WriteProgress = Callable[[str, int, int], None]
# Large embedding batches: on CPU, batch 256 costs about half the CPU time of batch 64 for short sentences.
_EMBED_CHUNK = 512
_EMBED_BATCH = 256


def default_store_dir() -> Path:
    """HOPEDIT_HOME names the memory directory; otherwise it lives under the user data dir."""
    from_env = os.environ.get("HOPEDIT_HOME")
    if from_env:
        return Path(from_env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("hopedit")) / "memory"


@dataclass
class AddResult:
    added: list[Fact] = field(default_factory=list)  # newly stored (an outranked background fact is inactive)
    superseded: list[Fact] = field(default_factory=list)  # previously active facts now history
    unchanged: list[Fact] = field(default_factory=list)  # already present: a no-op


class _Plan:
    """The staged outcome of one write, looked up before the memory itself."""

    def __init__(self, graph: FactGraph) -> None:
        self.graph = graph
        self.staged: dict[str, Fact] = {}
        self.new_ids: list[str] = []
        self.active_by_key: dict[tuple[str, str], str | None] = {}

    def current(self, fact_id: str) -> Fact | None:
        return self.staged.get(fact_id) or self.graph.facts.get(fact_id)

    def active(self, subject: str, relation: str) -> Fact | None:
        key = (subject, relation)
        if key in self.active_by_key:
            fact_id = self.active_by_key[key]
            return self.staged[fact_id] if fact_id else None
        fact = self.graph.active(subject, relation)
        return self.current(fact.id) if fact else None

    def stage(self, fact: Fact, new: bool = False) -> Fact:
        if new:
            self.new_ids.append(fact.id)
        self.staged[fact.id] = fact
        return fact


class Memory:
    """Facts with history in Chroma, mirrored in a graph for chain retrieval (API: see the team brief)."""

    def __init__(self, store: FactStore, config: RetrievalConfig | None = None) -> None:
        self.store = store
        self.config = config or RetrievalConfig()
        self.graph = FactGraph()
        for fact, vector in store.records():
            self.graph.put(fact, vector)
        self._retrievers: dict[str, Retriever] = {
            "dense": DenseRetriever(store, self.config),
            "chain": ChainRetriever(store, self.graph, self.config),
        }

    @classmethod
    def open(
        cls,
        store_dir: Path | None = None,
        chroma_url: str | None = None,
        config: RetrievalConfig | None = None,
    ) -> Memory:
        if chroma_url:
            return cls(ChromaFactStore(chroma_url=chroma_url), config)
        return cls(ChromaFactStore(store_dir=Path(store_dir) if store_dir else default_store_dir()), config)

    # ------------------------------------------------------------------ writes

    def add(self, facts: Sequence[Fact], progress: WriteProgress | None = None) -> AddResult:
        for fact in facts:
            if not isinstance(fact, Fact):
                raise TypeError(f"Memory.add takes Fact objects, got {type(fact).__name__}")
        plan = _Plan(self.graph)
        added: list[str] = []
        superseded: list[str] = []
        unchanged: list[str] = []
        now = time.time()
        for offset, incoming in enumerate(facts):
            # Strictly increasing times keep the history order of one batch equal to the file order.
            stamp = now + offset * 1e-6
            existing = plan.current(incoming.id)
            if existing is not None and existing.active:
                unchanged.append(existing.id)
                continue
            current = plan.active(incoming.subject, incoming.relation)
            if current is not None and current.kind == "edit" and incoming.kind == "background":
                if existing is not None:
                    unchanged.append(existing.id)
                    continue
                shadowed = dataclasses.replace(
                    incoming, active=False, superseded_by=current.id, added_at=stamp
                )
                added.append(plan.stage(shadowed, new=True).id)
                continue
            if current is not None:
                plan.stage(dataclasses.replace(current, active=False, superseded_by=incoming.id))
                if current.id in self.graph.facts:
                    superseded.append(current.id)
            if existing is not None:  # an old version comes back: re-activate its record
                fact = plan.stage(
                    dataclasses.replace(existing, active=True, superseded_by=None, added_at=stamp)
                )
            else:
                fact = plan.stage(
                    dataclasses.replace(incoming, active=True, superseded_by=None, added_at=stamp), new=True
                )
            plan.active_by_key[(fact.subject, fact.relation)] = fact.id
            added.append(fact.id)
        self._commit(plan, progress)
        final = plan.staged
        return AddResult(
            added=[final[i] for i in dict.fromkeys(added)],
            superseded=[final[i] for i in dict.fromkeys(superseded)],
            unchanged=[self.graph.facts[i] for i in dict.fromkeys(unchanged)],
        )

    def _commit(self, plan: _Plan, progress: WriteProgress | None) -> None:
        new = [plan.staged[fact_id] for fact_id in plan.new_ids]
        new_set = set(plan.new_ids)
        changed = [fact for fact_id, fact in plan.staged.items() if fact_id not in new_set]
        report = progress or (lambda stage, done, total: None)
        vectors = np.zeros((len(new), 0), dtype=np.float32)
        if new:
            parts = []
            for start in range(0, len(new), _EMBED_CHUNK):
                parts.append(
                    embed(
                        [fact.sentence for fact in new[start : start + _EMBED_CHUNK]], batch_size=_EMBED_BATCH
                    )
                )
                report("embedding", min(start + _EMBED_CHUNK, len(new)), len(new))
            vectors = np.concatenate(parts)
        chunk = max(1, min(self.store.max_batch_size(), 1000))
        written: list[str] = []
        updated: list[Fact] = []
        try:
            for start in range(0, len(new), chunk):
                batch = new[start : start + chunk]
                self.store.add(batch, vectors[start : start + chunk])
                written.extend(fact.id for fact in batch)
                report("storing", len(written), len(new))
            for start in range(0, len(changed), chunk):
                batch = changed[start : start + chunk]
                self.store.update(batch)
                updated.extend(batch)
        except Exception:
            self.store.delete(written)
            self.store.update([self.graph.facts[fact.id] for fact in updated])
            raise
        for fact in changed:
            self.graph.put(fact)
        for fact, vector in zip(new, vectors, strict=True):
            self.graph.put(fact, vector)

    def add_fact(
        self,
        subject: str,
        relation: str,
        obj: str,
        *,
        kind: FactKind = "edit",
        sentence: str | None = None,
        source: str = "api",
    ) -> Fact:
        fact = Fact(subject, relation, obj, sentence=sentence or "", kind=kind, source=source)
        result = self.add([fact])
        return (result.added or result.unchanged)[0]

    def load_file(
        self,
        path: Path | str,
        format: str | None = None,
        kind: FactKind = "edit",
        with_kg: bool = False,
        progress: WriteProgress | None = None,
    ) -> AddResult:
        """Reads and validates the whole file (FactFileError on the first bad line), then adds it."""
        facts = read_facts(Path(path), format, LoadOptions(kind=kind, with_kg=with_kg))
        return self.add(facts, progress)

    def remove(self, fact_id: str) -> Fact:
        """Deletes one version; removing the active one brings back the version it superseded."""
        fact = self.graph.facts.get(fact_id)
        if fact is None:
            raise KeyError(fact_id)
        predecessors = sorted(
            (other for other in self.graph.facts.values() if other.superseded_by == fact_id),
            key=lambda other: other.added_at,
        )
        changed: list[Fact] = []
        if fact.active and predecessors:
            restored = dataclasses.replace(predecessors[-1], active=True, superseded_by=None)
            changed.append(restored)
            changed.extend(
                dataclasses.replace(other, superseded_by=restored.id) for other in predecessors[:-1]
            )
        else:
            changed.extend(
                dataclasses.replace(other, superseded_by=fact.superseded_by) for other in predecessors
            )
        previous = [self.graph.facts[other.id] for other in changed]
        self.store.update(changed)
        try:
            self.store.delete([fact_id])
        except Exception:
            self.store.update(previous)
            raise
        for other in changed:
            self.graph.put(other)
        self.graph.drop(fact_id)
        return fact

    def undo_last_edit(self) -> Fact | None:
        edits = [fact for fact in self.graph.facts.values() if fact.kind == "edit"]
        if not edits:
            return None
        return self.remove(max(edits, key=lambda fact: fact.added_at).id)

    # ------------------------------------------------------------------ reads

    def facts(self, active_only: bool = True, kind: FactKind | None = None) -> list[Fact]:
        chosen = [
            fact
            for fact in self.graph.facts.values()
            if (fact.active or not active_only) and (kind is None or fact.kind == kind)
        ]
        return sorted(chosen, key=lambda fact: fact.added_at)

    def get(self, fact_id: str) -> Fact | None:
        return self.graph.facts.get(fact_id)

    def search(self, query: str, k: int = 5) -> list[ScoredFact]:
        return [ScoredFact(fact, score) for fact, score in self.store.query(embed([query])[0], k)]

    def history(self, subject: str, relation: str) -> list[Fact]:
        return self.graph.versions(subject.strip(), relation.strip())

    def retriever(self, strategy: str = "chain") -> Retriever:
        if strategy not in self._retrievers:
            raise ValueError(f"unknown retrieval strategy {strategy!r}; choose {', '.join(self._retrievers)}")
        return self._retrievers[strategy]

    def retrieve(self, question: str, n_hops: int | None = None, strategy: str = "chain") -> Retrieval:
        return self.retriever(strategy).retrieve(question, n_hops)

    def stats(self) -> dict:
        records = list(self.graph.facts.values())
        active = [fact for fact in records if fact.active]
        return {
            "store": self.store.location(),
            "records": len(records),
            "active": len(active),
            "inactive": len(records) - len(active),
            "active_edits": sum(fact.kind == "edit" for fact in active),
            "active_background": sum(fact.kind == "background" for fact in active),
            "entities": self.graph.graph.number_of_nodes(),
            "relations": len({fact.relation for fact in active}),
        }

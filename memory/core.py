"""The fact memory: supersession, history, undo and retrieval over a Chroma store and its graph mirror.

A write's new records go to Chroma under a pending load id and count only once the load's commit marker is
written, so a file never lands half-way, whether the write fails or the process is killed.

An embedded memory that closes consistent leaves a snapshot of its records (`memory.snapshot`), and the
next open reads that instead of every record from Chroma when it still matches the store.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from memory import integrity, snapshot
from memory.embedder import embed
from memory.facts import Fact, FactKind, Retrieval, ScoredFact
from memory.graph import FactGraph, rank, settle
from memory.loaders import LoadOptions, read_facts
from memory.lock import StoreLock
from memory.retrieval import ChainRetriever, DenseRetriever, RetrievalConfig, Retriever
from memory.store import ChromaFactStore, FactStore

# Called as (stage, done, total) while a large write embeds and stores its facts.
WriteProgress = Callable[[str, int, int], None]
# Large embedding batches: on CPU, batch 256 costs about half the CPU time of batch 64 for short sentences.
_EMBED_BATCH = 256
# Records per Chroma call: a write's first call takes _FIRST_CHUNK, each next one twice the last, up to the
# largest batch Chroma takes (or the caller's `chunk`). Chroma pays a fixed cost per call, which large calls
# amortize; the small first calls keep a small write's progress fine-grained, so a crash test can strike
# between two of them.
# Chroma holds the GIL for a whole call, so a server passes a small `chunk` (see `stage`).
_FIRST_CHUNK = 512
_STORE_CHUNK = 512  # records per delete when a staged write is abandoned


def _no_progress(stage: str, done: int, total: int) -> None:
    pass


def _stamp(now: float, offset: int) -> float:
    """The `added_at` of the write's fact number `offset`: strictly increasing, so history order is file
    order, and whole microseconds.

    Chroma reads a stored float back exactly only when it has at most 16 significant digits (its parser
    rounds longer ones to a neighbouring float); a present-day time in whole microseconds has 16, so the
    memory a write leaves in this process and the one the next open reads (from Chroma or the snapshot)
    hold the same stamps.
    """
    return (round(now * 1e6) + offset) / 1e6  # integer microseconds: distinct offsets, distinct stamps


def _differs(fact: Fact, stored: Fact) -> bool:
    return (fact.active, fact.superseded_by, fact.added_at) != (
        stored.active,
        stored.superseded_by,
        stored.added_at,
    )


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


@dataclass
class PendingWrite:
    """A write whose new records are in the store under `load_id` but not yet part of the memory."""

    load_id: str
    facts: list[Fact]
    now: float
    new: dict[str, tuple[Fact, np.ndarray]]  # fact id -> (record as staged, its embedding)
    committed: bool = False


class Memory:
    """Facts with history in Chroma, mirrored in a graph for chain retrieval (API: see the team brief).

    Every write is two-phase, so a write that does not finish leaves no trace: `stage` embeds the new facts
    and stores them under a pending load id (inactive, so no query sees them), then `commit` writes the
    load's marker (the one atomic step), updates the flags and the graph. Which version of a (subject,
    relation) is active is derived from the versions by the graph, never trusted from a stored flag; what a
    crash left on disk is repaired when the memory opens (`self.integrity` says what was found).
    """

    def __init__(
        self,
        store: FactStore,
        config: RetrievalConfig | None = None,
        *,
        repair: bool = True,
        lock: StoreLock | None = None,
        use_snapshot: bool = True,
    ) -> None:
        self.store = store
        self.config = config or RetrievalConfig()
        self._lock = lock
        self._closed = False
        # Snapshot bookkeeping: the data file this memory was read from (None: read from Chroma), whether
        # the records changed since, and whether every write so far finished (a failed one may have left
        # something for the next open to repair, so no snapshot may hide it).
        self._snapshot_sha: str | None = None
        self._changed = False
        self._consistent = True
        found = self._read_snapshot() if use_snapshot else None
        if found is not None:
            self.integrity = integrity.IntegrityReport(
                store.location(), records=len(found.facts), from_snapshot=True
            )
            self.graph = FactGraph.from_records(((fact, None) for fact in found.facts), settled=True)
            self._snapshot_sha = found.data_sha256
        else:
            self.integrity, self.graph = integrity.check(store)
            if repair and not self.integrity.clean:
                integrity.repair(store, self.integrity)
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
        *,
        repair: bool = True,
        holder: str | None = None,
        use_snapshot: bool = True,
    ) -> Memory:
        """Open (and lock, when embedded) a memory; StoreInUseError if another live process holds it.

        `holder` names this process in the refusal another process gets (default: its command line).
        `use_snapshot=False` reads every record from Chroma even where a valid snapshot exists (what
        `hopedit facts check` does: it inspects the store itself).
        """
        if chroma_url:
            return cls(ChromaFactStore(chroma_url=chroma_url), config, repair=repair)
        directory = Path(store_dir) if store_dir else default_store_dir()
        lock = StoreLock(directory, holder).acquire()
        try:
            return cls(
                ChromaFactStore(store_dir=directory),
                config,
                repair=repair,
                lock=lock,
                use_snapshot=use_snapshot,
            )
        except BaseException:
            lock.release()
            raise

    def _read_snapshot(self) -> snapshot.Snapshot | None:
        """The store's snapshot, if this process holds the store's lock and the snapshot matches it."""
        directory = self.store.snapshot_dir
        if directory is None or self._lock is None:
            return None
        return snapshot.read(directory, self.store.fingerprint_at_open)

    def _save_snapshot(self) -> None:
        """After the store is closed, with the lock still held: snapshot the records for the next open.

        Only a consistent memory is written (nothing of a failed write, nothing left to repair); an
        unchanged memory read from a snapshot only re-marks it valid (opening Chroma touched its files).
        """
        directory = self.store.snapshot_dir
        if directory is None or self._lock is None or not self._consistent:
            return
        if not (self.integrity.clean or self.integrity.repaired):
            return
        with contextlib.suppress(OSError):  # a cache: a full disk costs the next open time, not facts
            snapshot.write(
                directory,
                self.graph.facts.values(),
                snapshot.fingerprint(directory),
                None if self._changed else self._snapshot_sha,
            )

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """Around every write: the records change, and a write that raises leaves the memory
        inconsistent until the next open has inspected (and repaired) the store."""
        self._changed = True
        try:
            yield
        except BaseException:
            self._consistent = False
            raise

    def close(self) -> None:
        """Close the store, save its snapshot (embedded) and release its lock; the object must not be used
        afterwards."""
        self._close(save_snapshot=True)

    def _close(self, save_snapshot: bool) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self.store.close()
            if save_snapshot:
                self._save_snapshot()
        finally:
            if self._lock is not None:
                self._lock.release()
                self._lock = None

    def __enter__(self) -> Memory:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            # Interpreter shutdown may have torn Chroma down already; and no snapshot is written this late
            # (the next open reads Chroma instead), so commands close their memory explicitly.
            with contextlib.suppress(Exception):
                self._close(save_snapshot=False)

    # ------------------------------------------------------------------ writes

    def add(self, facts: Sequence[Fact], progress: WriteProgress | None = None) -> AddResult:
        """Add facts atomically: all of them become part of the memory, or (crash, error) none."""
        return self.commit(self.stage(facts, progress), progress)

    def stage(
        self, facts: Sequence[Fact], progress: WriteProgress | None = None, chunk: int | None = None
    ) -> PendingWrite:
        """Embed the facts not yet stored and write them under a pending load id (invisible until commit).

        The slow part of a write, and it leaves the graph alone, so a server can stage while it answers;
        it must commit (or `abort`) before any other write. At most `chunk` records are embedded and go to
        Chroma per call (default: as many as Chroma takes; see `_FIRST_CHUNK`): Chroma holds the GIL for a
        whole call, so a server that must keep answering passes a small one.
        """
        for fact in facts:
            if not isinstance(fact, Fact):
                raise TypeError(f"Memory.add takes Fact objects, got {type(fact).__name__}")
        with self._writing():
            return self._stage(facts, progress, chunk)

    def _stage(
        self, facts: Sequence[Fact], progress: WriteProgress | None, chunk: int | None
    ) -> PendingWrite:
        now = time.time()
        pending = PendingWrite(integrity.new_load_id(now), list(facts), now, {})
        first: dict[str, Fact] = {}
        for offset, fact in enumerate(pending.facts):
            if fact.id not in self.graph.facts and fact.id not in first:
                # Stored inactive: Chroma's active filter keeps it out of every query until the commit.
                first[fact.id] = dataclasses.replace(
                    fact, active=False, superseded_by=None, added_at=_stamp(now, offset)
                )
        new = list(first.values())
        report = progress or _no_progress
        try:
            # Each call's facts are embedded just before they are stored; a small chunk also embeds in small
            # calls (the encoder holds the GIL between its operations).
            for batch in self._batches(new, chunk):
                vectors = embed([fact.sentence for fact in batch], batch_size=min(_EMBED_BATCH, len(batch)))
                self.store.add(batch, vectors, load_id=pending.load_id)
                stored = zip(batch, vectors, strict=True)
                pending.new.update((fact.id, (fact, vector)) for fact, vector in stored)
                report("storing", len(pending.new), len(new))
        except BaseException:
            self.abort(pending)
            raise
        return pending

    def _batches(self, items: Sequence[Fact], chunk: int | None) -> Iterator[Sequence[Fact]]:
        """`items` in consecutive Chroma calls: `_FIRST_CHUNK` records, then each call twice the last, at
        most `chunk` (default: the largest batch the store takes)."""
        largest = max(1, min(self.store.max_batch_size(), chunk or self.store.max_batch_size()))
        size, start = min(_FIRST_CHUNK, largest), 0
        while start < len(items):
            yield items[start : start + size]
            start += size
            size = min(2 * size, largest)

    def abort(self, pending: PendingWrite) -> None:
        """Delete a staged write's records (what was stored of them); a no-op once committed."""
        if pending.committed:
            return
        with self._writing():
            self._abort(pending)

    def _abort(self, pending: PendingWrite) -> None:
        ids = list(pending.new)
        for start in range(0, len(ids), _STORE_CHUNK):
            self.store.delete(ids[start : start + _STORE_CHUNK])
        pending.new.clear()

    def commit(
        self, pending: PendingWrite, progress: WriteProgress | None = None, chunk: int | None = None
    ) -> AddResult:
        """Supersession against the current memory, the load's marker, then flags and graph."""
        if pending.committed:
            raise ValueError(f"write {pending.load_id} is already committed")
        with self._writing():
            return self._commit(pending, progress, chunk)

    def _commit(self, pending: PendingWrite, progress: WriteProgress | None, chunk: int | None) -> AddResult:
        try:
            final, added, superseded, unchanged = self._plan(pending)
            before = {fact_id: fact for fact_id, (fact, _) in pending.new.items()}
            changed = [
                fact
                for fact_id, fact in final.items()
                if _differs(fact, before.get(fact_id) or self.graph.facts[fact_id])
            ]
            changed.sort(key=lambda fact: fact.active)  # deactivate first: a query never sees two actives
            restamps = {
                fact.id: fact.added_at
                for fact in changed
                if fact.added_at != (before.get(fact.id) or self.graph.facts[fact.id]).added_at
            }
            if pending.new or changed:
                self.store.commit_load(pending.load_id, restamps)
        except BaseException:
            self.abort(pending)
            raise
        pending.committed = True
        report = progress or _no_progress
        # As stored now, so each update writes only the keys that change (a new record: `active`).
        stored = {fact.id: before.get(fact.id) or self.graph.facts[fact.id] for fact in changed}
        try:
            done = 0
            for batch in self._batches(changed, chunk):
                self.store.update(batch, stored)
                done += len(batch)
                report("activating", done, len(changed))
        finally:
            # The marker is down, so the write stands even if a flag update failed: the graph holds it now,
            # and the next open rewrites the flags it did not reach. No vectors: nothing reads them from
            # the graph, and at 100k facts they would be most of the process's memory.
            self.graph.put_many((fact, None) for fact in final.values())
        if self.store.shared:
            self._settle_shared({(fact.subject, fact.relation) for fact in final.values()})
        return AddResult(
            added=[self.graph.facts[i] for i in dict.fromkeys(added)],
            superseded=[self.graph.facts[i] for i in dict.fromkeys(superseded)],
            unchanged=[self.graph.facts[i] for i in dict.fromkeys(unchanged)],
        )

    def _settle_shared(self, keys: set[tuple[str, str]]) -> None:
        """On a Chroma server other processes write too: re-read the touched keys after the commit, take in
        their committed versions and rewrite any flag that disagrees with the versions.

        The last writer to finish sees every version committed before it, so the flags end consistent
        whatever the interleaving; a key is never left with two active records.
        """
        records = [
            record
            for record in self.store.records_of(sorted({subject for subject, _ in keys}))
            if (record.fact.subject, record.fact.relation) in keys
        ]
        found, settled = integrity.inspect(
            records, self.store.committed_loads(), self.store.location(), shared=True
        )
        found.uncommitted.clear()  # another writer's unfinished load is theirs to finish or the next open's
        integrity.repair(self.store, found)
        self.graph.put_many((fact, None) for fact in settled.facts.values())

    def _plan(self, pending: PendingWrite) -> tuple[dict[str, Fact], list[str], list[str], list[str]]:
        """Each fact in order: a no-op, a new version, or an old version made newest again.

        Returns every version of every touched key, settled (active derived), and the ids added,
        superseded (active before, not after) and unchanged.
        """
        versions: dict[tuple[str, str], dict[str, Fact]] = {}
        added: list[str] = []
        unchanged: list[str] = []
        for offset, incoming in enumerate(pending.facts):
            stamp = _stamp(pending.now, offset)
            key = (incoming.subject, incoming.relation)
            if key not in versions:
                versions[key] = {fact.id: fact for fact in self.graph.versions(*key)}
            known = versions[key]
            ranked = rank(known.values())
            current = ranked[0] if ranked else None
            existing = known.get(incoming.id)
            if existing is not None and current is not None and existing.id == current.id:
                unchanged.append(existing.id)
                continue
            if existing is not None:
                if current is not None and current.kind == "edit" and incoming.kind == "background":
                    unchanged.append(existing.id)  # a shadowed background fact, again
                    continue
                known[existing.id] = dataclasses.replace(existing, added_at=stamp)  # an old version returns
            elif incoming.id in pending.new:
                known[incoming.id] = dataclasses.replace(pending.new[incoming.id][0], added_at=stamp)
            else:
                raise ValueError(f"fact {incoming.id} was not staged with write {pending.load_id}")
            added.append(incoming.id)
        final: dict[str, Fact] = {}
        superseded: list[str] = []
        for known in versions.values():
            for fact in settle(known.values()):
                previous = self.graph.facts.get(fact.id)
                if previous is not None and previous.active and not fact.active:
                    superseded.append(fact.id)
                final[fact.id] = fact
        return final, added, superseded, unchanged

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
        """Deletes one version; removing the active one brings back the version it superseded.

        The record goes first, then the flags of the key's other versions: killed in between, the store
        holds no active flag for the key, and the next open derives and rewrites it.
        """
        fact = self.graph.facts.get(fact_id)
        if fact is None:
            raise KeyError(fact_id)
        with self._writing():
            return self._remove(fact)

    def _remove(self, fact: Fact) -> Fact:
        fact_id = fact.id
        before = {other.id: other for other in self.graph.versions(fact.subject, fact.relation)}
        self.store.delete([fact_id])
        self.graph.drop(fact_id)
        changed = [
            other
            for other in self.graph.versions(fact.subject, fact.relation)
            if _differs(other, before[other.id])
        ]
        self.store.update(changed, before)
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
            # The names of active facts are the graph's nodes once it is built; counting them here spares
            # `hopedit facts stats` building the edges of a large memory.
            "entities": (
                self.graph.graph.number_of_nodes()
                if self.graph.edges_built
                else len({name for fact in active for name in (fact.subject, fact.object)})
            ),
            "relations": len({fact.relation for fact in active}),
        }

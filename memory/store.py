"""Fact storage in Chroma: the one source of truth for the memory.

Every version of every fact is a Chroma record (history stays as inactive records), so the graph mirror and
all caches can be rebuilt from Chroma alone. Embeddings are always computed by us and passed explicitly,
which keeps Chroma from fetching its default ONNX model (no network here) and keeps embedded and server mode
identical.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple, Protocol
from urllib.parse import urlparse

import numpy as np
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
from chromadb.utils.embedding_functions import register_embedding_function

from memory import snapshot
from memory.embedder import embed
from memory.facts import Fact

COLLECTION = "hopedit_facts"
# Commit markers of writes: a write's records become part of the memory only once its marker exists.
LOADS_COLLECTION = "hopedit_loads"
# Records per `get` while scanning. Chroma reads a page in time proportional to its offset plus its size,
# so few large pages beat many small ones; much larger pages exceed SQLite's bound-variable limit.
_PAGE = 5000
_SUBJECTS_PER_GET = 200
# Unfiltered nearest-neighbour requests ask for k + _HEADROOM records, widening up to k * _WIDEN_LIMIT.
_HEADROOM = 8
_WIDEN_LIMIT = 64


class StoredRecord(NamedTuple):
    """One record as stored, with the write (load) it belongs to; "" for records older than load ids."""

    fact: Fact
    vector: np.ndarray | None  # None: read without its embedding (nothing that scans needs it)
    load_id: str


_ALIAS_SEPARATOR = "\x1f"


@register_embedding_function
class MiniLMEmbeddingFunction(EmbeddingFunction[Documents]):
    """Registered with the collection so a Chroma client never falls back to its downloading default."""

    def __init__(self) -> None:
        pass

    def __call__(self, input: Documents) -> Embeddings:
        return list(embed(list(input)))

    @staticmethod
    def name() -> str:
        return "hopedit-minilm"

    def default_space(self) -> str:
        return "cosine"

    def get_config(self) -> dict[str, Any]:
        return {}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> MiniLMEmbeddingFunction:
        return MiniLMEmbeddingFunction()


class FactStore(Protocol):
    """What the memory needs from a vector store; Chroma is the one implementation."""

    def add(self, facts: Sequence[Fact], embeddings: np.ndarray, load_id: str = "") -> None: ...

    def update(self, facts: Sequence[Fact], previous: Mapping[str, Fact] | None = None) -> None: ...

    def delete(self, ids: Sequence[str]) -> None: ...

    def records(self) -> Iterator[tuple[Fact, np.ndarray | None]]: ...

    def scan(self) -> Iterator[StoredRecord]: ...

    def records_of(self, subjects: Sequence[str]) -> list[StoredRecord]: ...

    def commit_load(self, load_id: str, restamps: Mapping[str, float]) -> None: ...

    def committed_loads(self) -> dict[str, dict[str, float]]: ...

    def query(self, embedding: np.ndarray, k: int) -> list[tuple[Fact, float]]: ...

    def count(self) -> int: ...

    def max_batch_size(self) -> int: ...

    def location(self) -> str: ...

    @property
    def shared(self) -> bool: ...

    @property
    def snapshot_dir(self) -> Path | None: ...

    @property
    def fingerprint_at_open(self) -> snapshot.Fingerprint: ...

    def close(self) -> None: ...


def fact_to_metadata(fact: Fact) -> dict[str, Any]:
    """The record's metadata; `update` leaves keys it does not name (the load id) as they are."""
    return {
        "subject": fact.subject,
        "relation": fact.relation,
        "object": fact.object,
        "kind": fact.kind,
        "source": fact.source,
        "added_at": float(fact.added_at),
        "active": bool(fact.active),
        # Chroma metadata values cannot be None; "" means "not superseded".
        "superseded_by": fact.superseded_by or "",
        # Chroma metadata holds scalars only: aliases as one string, unit-separator joined.
        "subject_aliases": _ALIAS_SEPARATOR.join(fact.subject_aliases),
        "object_aliases": _ALIAS_SEPARATOR.join(fact.object_aliases),
    }


def fact_from_record(fact_id: str, document: str, metadata: dict[str, Any]) -> Fact:
    return Fact(
        subject=str(metadata["subject"]),
        relation=str(metadata["relation"]),
        object=str(metadata["object"]),
        sentence=document,
        kind=metadata["kind"],
        source=str(metadata.get("source", "")),
        added_at=float(metadata["added_at"]),
        active=bool(metadata["active"]),
        superseded_by=str(metadata.get("superseded_by") or "") or None,
        id=fact_id,
        subject_aliases=_split_aliases(metadata.get("subject_aliases")),
        object_aliases=_split_aliases(metadata.get("object_aliases")),
    )


# The only fields a stored record ever changes (`update`): which version is active, and history order.
_MUTABLE = ("active", "superseded_by", "added_at")


def _changed_metadata(fact: Fact, before: Fact | None) -> dict[str, Any]:
    """The metadata keys of `fact` that differ from `before` (all mutable ones when unknown)."""
    metadata = fact_to_metadata(fact)
    return {
        key: metadata[key]
        for key in _MUTABLE
        if before is None or fact_to_metadata(before)[key] != metadata[key]
    }


def _split_aliases(value: Any) -> tuple[str, ...]:
    return tuple(part for part in str(value or "").split(_ALIAS_SEPARATOR) if part)


class ChromaFactStore:
    """Facts in one cosine-space Chroma collection, embedded (a directory) or on a Chroma server (a URL)."""

    def __init__(self, store_dir: Path | None = None, chroma_url: str | None = None) -> None:
        import chromadb
        from chromadb.config import Settings

        settings = Settings(anonymized_telemetry=False)
        self._snapshot_dir: Path | None = None
        self._fingerprint: snapshot.Fingerprint = []
        # Until this process's first write deletes it, a snapshot of the store may be on disk.
        self._snapshot_may_be_valid = True
        if chroma_url:
            parsed = urlparse(chroma_url if "://" in chroma_url else f"http://{chroma_url}")
            if not parsed.hostname:
                raise ValueError(f"not a Chroma server URL: {chroma_url!r}")
            self._location = chroma_url
            self._shared = True
            self._client = chromadb.HttpClient(
                host=parsed.hostname,
                port=parsed.port or (443 if parsed.scheme == "https" else 8000),
                ssl=parsed.scheme == "https",
                settings=settings,
            )
        else:
            if store_dir is None:
                raise ValueError("an embedded Chroma store needs a directory")
            store_dir.mkdir(parents=True, exist_ok=True)
            self._location = str(store_dir)
            self._shared = False
            self._snapshot_dir = store_dir
            # Before Chroma opens: opening it touches its files (see `memory.snapshot.fingerprint`).
            self._fingerprint = snapshot.fingerprint(store_dir)
            self._client = chromadb.PersistentClient(path=str(store_dir), settings=settings)
        self._collection = self._client.get_or_create_collection(
            COLLECTION,
            configuration={"hnsw": {"space": "cosine"}},
            embedding_function=MiniLMEmbeddingFunction(),
        )
        # Markers carry no meaning in their vectors; Chroma just needs one, so every marker gets [1.0].
        self._loads = self._client.get_or_create_collection(
            LOADS_COLLECTION, embedding_function=MiniLMEmbeddingFunction()
        )

    def location(self) -> str:
        return self._location

    @property
    def shared(self) -> bool:
        """True on a Chroma server: other processes may be writing the same memory right now."""
        return self._shared

    @property
    def snapshot_dir(self) -> Path | None:
        """Where an embedded store keeps its snapshot (`memory.snapshot`); None on a Chroma server, which
        other processes write without telling this one."""
        return self._snapshot_dir

    @property
    def fingerprint_at_open(self) -> snapshot.Fingerprint:
        """The fingerprint of Chroma's files taken just before this store opened them."""
        return self._fingerprint

    def _before_write(self) -> None:
        """Every write first makes the snapshot unusable: a write killed midway must not leave a snapshot
        that claims to describe the store."""
        if self._snapshot_may_be_valid and self._snapshot_dir is not None:
            snapshot.invalidate(self._snapshot_dir)
        self._snapshot_may_be_valid = False

    def close(self) -> None:
        """Release this process's Chroma instance of the store once its last client closes.

        Embedded Chroma caches a store per process; a cache that outlives the store lock goes stale as soon
        as another process writes the directory ("Error finding id" on the next read), so the memory closes
        its client whenever it lets go of the lock.
        """
        self._client.close()

    def max_batch_size(self) -> int:
        return int(self._client.get_max_batch_size())

    def add(self, facts: Sequence[Fact], embeddings: np.ndarray, load_id: str = "") -> None:
        """New records; with a load id they stay out of the memory until `commit_load(load_id)`."""
        if not facts:
            return
        self._before_write()
        self._collection.add(
            ids=[fact.id for fact in facts],
            embeddings=np.asarray(embeddings, dtype=np.float32),
            documents=[fact.sentence for fact in facts],
            metadatas=[{**fact_to_metadata(fact), "load_id": load_id} for fact in facts],
        )

    def update(self, facts: Sequence[Fact], previous: Mapping[str, Fact] | None = None) -> None:
        """Metadata-only change (activation, supersession, history order); the stored embedding stays.

        Only `active`, `superseded_by` and `added_at` ever change, and only those are written; with
        `previous` (fact id -> the record as stored), only the ones that differ: Chroma rewrites an index
        row per key written, and activating a new record changes one key.
        """
        before = previous or {}
        changes = [(fact.id, _changed_metadata(fact, before.get(fact.id))) for fact in facts]
        changes = [(fact_id, metadata) for fact_id, metadata in changes if metadata]
        if not changes:
            return
        self._before_write()
        self._collection.update(
            ids=[fact_id for fact_id, _ in changes], metadatas=[metadata for _, metadata in changes]
        )

    def delete(self, ids: Sequence[str]) -> None:
        if ids:
            self._before_write()
            self._collection.delete(ids=list(ids))

    def records(self) -> Iterator[tuple[Fact, np.ndarray | None]]:
        """Every stored record, committed or not, as stored (see `scan` for the load ids)."""
        for record in self.scan():
            yield record.fact, record.vector

    def scan(self) -> Iterator[StoredRecord]:
        """Every record without its embedding: opening a memory without a snapshot reads them all, and the
        embeddings (384 floats each, converted to Python lists by the client) were most of that time and
        memory, for nothing that reads them (search asks the index itself)."""
        total = self._collection.count()
        for offset in range(0, total, _PAGE):
            page = self._collection.get(limit=_PAGE, offset=offset, include=["documents", "metadatas"])
            for fact_id, document, metadata in zip(
                page["ids"], page["documents"], page["metadatas"], strict=True
            ):
                yield StoredRecord(
                    fact_from_record(fact_id, document, metadata), None, str(metadata.get("load_id") or "")
                )

    def records_of(self, subjects: Sequence[str]) -> list[StoredRecord]:
        """Every record (any load) about these subjects, without embeddings: what a writer on a shared
        store re-reads to settle the keys it touched against what other processes wrote meanwhile."""
        found: list[StoredRecord] = []
        names = list(dict.fromkeys(subjects))
        for start in range(0, len(names), _SUBJECTS_PER_GET):
            page = self._collection.get(
                where={"subject": {"$in": names[start : start + _SUBJECTS_PER_GET]}},
                include=["documents", "metadatas"],
            )
            for fact_id, document, metadata in zip(
                page["ids"], page["documents"], page["metadatas"], strict=True
            ):
                fact = fact_from_record(fact_id, document, metadata)
                found.append(StoredRecord(fact, None, str(metadata.get("load_id") or "")))
        return found

    def commit_load(self, load_id: str, restamps: Mapping[str, float]) -> None:
        """The one write that makes a load part of the memory.

        `restamps` (fact id -> added_at) are the changes the load makes to records that existed before it
        (a re-added old version becomes the newest); they are applied after the marker, and re-applied on
        the next open if a crash came in between.
        """
        self._before_write()
        self._loads.add(
            ids=[load_id],
            embeddings=[[1.0]],
            documents=[json.dumps({"restamps": dict(restamps)})],
            metadatas=[{"committed": True}],
        )

    def committed_loads(self) -> dict[str, dict[str, float]]:
        """load id -> its restamps, for every committed load."""
        loads: dict[str, dict[str, float]] = {}
        total = self._loads.count()
        for offset in range(0, total, _PAGE):
            page = self._loads.get(limit=_PAGE, offset=offset, include=["documents"])
            for load_id, document in zip(page["ids"], page["documents"], strict=True):
                restamps = json.loads(document or "{}").get("restamps", {})
                loads[load_id] = {str(key): float(value) for key, value in restamps.items()}
        return loads

    def query(self, embedding: np.ndarray, k: int) -> list[tuple[Fact, float]]:
        """Nearest active facts; the score is the cosine similarity (Chroma returns 1 - cosine).

        Asks the HNSW index without a metadata filter and drops inactive records (history) from the
        answer: Chroma evaluates `where={"active": True}` by listing every matching record first, a scan
        that grew linearly with the memory and cost more than the vector search itself. History is
        usually a small share of the records, so a few more candidates than k almost always hold k active
        ones; the request widens fourfold while they do not, and with more history than `_WIDEN_LIMIT`
        times k it falls back to the filtered query, which is exact whatever the share.
        """
        if k <= 0:
            return []
        query = np.asarray(embedding, dtype=np.float32)[None, :]
        fetch = k + _HEADROOM
        while True:
            found = self._nearest(query, fetch, where=None)
            active = [pair for pair in found if pair[0].active]
            # Fewer records than asked for: the collection is exhausted, nothing active is missing.
            if len(active) >= k or len(found) < fetch:
                return active[:k]
            if fetch >= k * _WIDEN_LIMIT:
                return self._nearest(query, k, where={"active": True})
            fetch *= 4

    def _nearest(self, query: np.ndarray, n: int, where: dict[str, Any] | None) -> list[tuple[Fact, float]]:
        result = self._collection.query(
            query_embeddings=query,
            n_results=n,
            where=where,
            include=["documents", "metadatas", "distances"],
        )
        return [
            (fact_from_record(fact_id, document, metadata), 1.0 - float(distance))
            for fact_id, document, metadata, distance in zip(
                result["ids"][0],
                result["documents"][0],
                result["metadatas"][0],
                result["distances"][0],
                strict=True,
            )
        ]

    def count(self) -> int:
        return int(self._collection.count())

"""Fact storage in Chroma: the one source of truth for the memory.

Every version of every fact is a Chroma record (history stays as inactive records), so the graph mirror and
all caches can be rebuilt from Chroma alone. Embeddings are always computed by us and passed explicitly,
which keeps Chroma from fetching its default ONNX model (no network here) and keeps embedded and server mode
identical.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

import numpy as np
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
from chromadb.utils.embedding_functions import register_embedding_function

from memory.embedder import embed
from memory.facts import Fact

COLLECTION = "hopedit_facts"
_PAGE = 2000


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

    def add(self, facts: Sequence[Fact], embeddings: np.ndarray) -> None: ...

    def update(self, facts: Sequence[Fact]) -> None: ...

    def delete(self, ids: Sequence[str]) -> None: ...

    def records(self) -> Iterator[tuple[Fact, np.ndarray]]: ...

    def query(self, embedding: np.ndarray, k: int) -> list[tuple[Fact, float]]: ...

    def count(self) -> int: ...

    def max_batch_size(self) -> int: ...

    def location(self) -> str: ...


def fact_to_metadata(fact: Fact) -> dict[str, Any]:
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
    )


class ChromaFactStore:
    """Facts in one cosine-space Chroma collection, embedded (a directory) or on a Chroma server (a URL)."""

    def __init__(self, store_dir: Path | None = None, chroma_url: str | None = None) -> None:
        import chromadb
        from chromadb.config import Settings

        settings = Settings(anonymized_telemetry=False)
        if chroma_url:
            parsed = urlparse(chroma_url if "://" in chroma_url else f"http://{chroma_url}")
            if not parsed.hostname:
                raise ValueError(f"not a Chroma server URL: {chroma_url!r}")
            self._location = chroma_url
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
            self._client = chromadb.PersistentClient(path=str(store_dir), settings=settings)
        self._collection = self._client.get_or_create_collection(
            COLLECTION,
            configuration={"hnsw": {"space": "cosine"}},
            embedding_function=MiniLMEmbeddingFunction(),
        )

    def location(self) -> str:
        return self._location

    def max_batch_size(self) -> int:
        return int(self._client.get_max_batch_size())

    def add(self, facts: Sequence[Fact], embeddings: np.ndarray) -> None:
        if not facts:
            return
        self._collection.add(
            ids=[fact.id for fact in facts],
            embeddings=np.asarray(embeddings, dtype=np.float32),
            documents=[fact.sentence for fact in facts],
            metadatas=[fact_to_metadata(fact) for fact in facts],
        )

    def update(self, facts: Sequence[Fact]) -> None:
        """Metadata-only change (activation, supersession); the stored embedding stays."""
        if not facts:
            return
        self._collection.update(
            ids=[fact.id for fact in facts], metadatas=[fact_to_metadata(fact) for fact in facts]
        )

    def delete(self, ids: Sequence[str]) -> None:
        if ids:
            self._collection.delete(ids=list(ids))

    def records(self) -> Iterator[tuple[Fact, np.ndarray]]:
        total = self._collection.count()
        for offset in range(0, total, _PAGE):
            page = self._collection.get(
                limit=_PAGE, offset=offset, include=["documents", "metadatas", "embeddings"]
            )
            for fact_id, document, metadata, vector in zip(
                page["ids"], page["documents"], page["metadatas"], page["embeddings"], strict=True
            ):
                yield fact_from_record(fact_id, document, metadata), np.asarray(vector, dtype=np.float32)

    def query(self, embedding: np.ndarray, k: int) -> list[tuple[Fact, float]]:
        """Nearest active facts; the score is the cosine similarity (Chroma returns 1 - cosine)."""
        if k <= 0:
            return []
        result = self._collection.query(
            query_embeddings=np.asarray(embedding, dtype=np.float32)[None, :],
            n_results=k,
            where={"active": True},
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

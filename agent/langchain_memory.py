"""The fact memory seen through LangChain: a retriever and a Chroma vector store.

The retriever goes through the memory's own retrieval (relevance gate, chain retrieval, only active
facts), so a LangChain pipeline sees exactly what hopedit's agents see. The vector store is a
read-only `langchain_chroma.Chroma` over the memory's own collection with our embedder, for tools that
want LangChain's vector-store interface (similarity search, MMR). Writing through it would bypass
supersession and the graph mirror, so facts are added through the memory only.
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlparse

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from memory.embedder import embed
from memory.facts import Fact, ScoredFact

# Chroma metadata filter for the current version of each fact (history stays in the collection).
ACTIVE_ONLY = {"active": True}


class MiniLMEmbeddings(Embeddings):
    """hopedit's sentence embedder behind LangChain's Embeddings interface (unit-norm vectors)."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return embed(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return embed([text])[0].tolist()


def fact_document(scored: ScoredFact | Fact) -> Document:
    fact, score = (scored.fact, scored.score) if isinstance(scored, ScoredFact) else (scored, None)
    metadata = {
        "id": fact.id,
        "subject": fact.subject,
        "relation": fact.relation,
        "object": fact.object,
        "kind": fact.kind,
        "source": fact.source,
        "active": fact.active,
    }
    if score is not None:
        metadata["score"] = float(score)
    return Document(page_content=fact.sentence, metadata=metadata, id=fact.id)


class MemoryRetriever(BaseRetriever):
    """Active facts for a query: `chain`/`dense` use the memory's gated retrieval, `search` plain top-k."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    memory: Any
    strategy: Literal["chain", "dense", "search"] = "chain"
    k: int = 5

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        if self.strategy == "search":
            return [fact_document(s) for s in self.memory.search(query, k=self.k)]
        retrieval = self.memory.retrieve(query, strategy=self.strategy)
        return [] if retrieval.gated else [fact_document(s) for s in retrieval.facts[: self.k]]


def memory_vectorstore(memory: Any) -> Any:
    """A `langchain_chroma.Chroma` over the collection the memory stores its facts in."""
    import chromadb
    from chromadb.config import Settings
    from langchain_chroma import Chroma

    from memory.store import COLLECTION

    location = memory.store.location()
    settings = Settings(anonymized_telemetry=False)
    parsed = urlparse(location)
    if parsed.scheme in ("http", "https") or "://" in location:
        client = chromadb.HttpClient(
            host=parsed.hostname,
            port=parsed.port or (443 if parsed.scheme == "https" else 8000),
            ssl=parsed.scheme == "https",
            settings=settings,
        )
    else:
        # Same path and settings: Chroma hands back the client system the memory already holds.
        client = chromadb.PersistentClient(path=location, settings=settings)
    return Chroma(client=client, collection_name=COLLECTION, embedding_function=MiniLMEmbeddings())

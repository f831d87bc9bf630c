"""In-process mirror of the Chroma store: a multi-digraph of the active facts plus every version's record.

It exists for speed (supersession checks, chain walks and entity lookup need no Chroma round trip and no
re-embedding) and is always rebuilt from Chroma at open, so it can never disagree with the store for long.
"""

from __future__ import annotations

import re
from collections import defaultdict

import networkx as nx
import numpy as np

from memory.facts import Fact


class FactGraph:
    """Entities are nodes; each active fact is an edge subject -> object keyed by the fact id."""

    def __init__(self) -> None:
        self.graph: nx.MultiDiGraph = nx.MultiDiGraph()
        self.facts: dict[str, Fact] = {}
        self.vectors: dict[str, np.ndarray] = {}
        self._versions: dict[tuple[str, str], list[str]] = defaultdict(list)
        self._entity_index: dict[str, str] | None = None

    def put(self, fact: Fact, vector: np.ndarray | None = None) -> None:
        """Insert or replace one record (any version); only active facts become edges."""
        old = self.facts.get(fact.id)
        if old is not None and old.active and self.graph.has_edge(old.subject, old.object, key=old.id):
            self.graph.remove_edge(old.subject, old.object, key=old.id)
        if old is None:
            self._versions[(fact.subject, fact.relation)].append(fact.id)
        self.facts[fact.id] = fact
        if vector is not None:
            self.vectors[fact.id] = vector
        if fact.active:
            self.graph.add_edge(fact.subject, fact.object, key=fact.id)
        self._entity_index = None

    def drop(self, fact_id: str) -> None:
        fact = self.facts.pop(fact_id)
        self.vectors.pop(fact_id, None)
        if self.graph.has_edge(fact.subject, fact.object, key=fact_id):
            self.graph.remove_edge(fact.subject, fact.object, key=fact_id)
        versions = self._versions[(fact.subject, fact.relation)]
        versions.remove(fact_id)
        if not versions:
            del self._versions[(fact.subject, fact.relation)]
        for name in (fact.subject, fact.object):
            if name in self.graph and self.graph.degree(name) == 0:
                self.graph.remove_node(name)
        self._entity_index = None

    def versions(self, subject: str, relation: str) -> list[Fact]:
        """All stored versions of (subject, relation), oldest first."""
        facts = [self.facts[fact_id] for fact_id in self._versions.get((subject, relation), [])]
        return sorted(facts, key=lambda fact: fact.added_at)

    def active(self, subject: str, relation: str) -> Fact | None:
        return next((fact for fact in self.versions(subject, relation) if fact.active), None)

    def outgoing(self, entity: str) -> list[Fact]:
        if entity not in self.graph:
            return []
        return [self.facts[key] for _, _, key in self.graph.out_edges(entity, keys=True)]

    def entities_in(self, text: str) -> list[str]:
        """Subjects of active facts occurring in the text as whole words, longest first."""
        if self._entity_index is None:
            self._entity_index = {
                name.casefold(): name for name in self.graph.nodes if self.graph.out_degree(name) > 0
            }
        folded = text.casefold()
        found = [
            name
            for key, name in self._entity_index.items()
            if key in folded and re.search(rf"(?<!\w){re.escape(key)}(?!\w)", folded)
        ]
        return sorted(found, key=len, reverse=True)

"""In-process mirror of the Chroma store: a multi-digraph of the active facts plus every version's record.

Which version of a (subject, relation) is active is derived here from the stored versions (`settle`), never
read from a stored flag.

It exists for speed (supersession checks, chain walks and entity lookup need no Chroma round trip and no
re-embedding) and is always rebuilt from Chroma at open, so it can never disagree with the store for long.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable

import networkx as nx
import numpy as np

from memory.entities import EntityIndex, EntityLink
from memory.facts import Fact


def rank(versions: Iterable[Fact]) -> list[Fact]:
    """Versions of one (subject, relation), the one that counts first: edits before background knowledge,
    then the newest; the id breaks exact ties so every process ranks alike."""
    return sorted(versions, key=lambda fact: (fact.kind == "edit", fact.added_at, fact.id), reverse=True)


def settle(versions: Iterable[Fact]) -> list[Fact]:
    """The versions, ranked, with `active` and `superseded_by` derived from the ranking alone.

    Exactly the first is active; each other is superseded by the one ranked just above it. Nothing stored
    decides this (the stored flags are a cache for Chroma's filter), so no crash between two writes can
    leave a key with two active versions or none.
    """
    ranked = rank(versions)
    settled = []
    for index, fact in enumerate(ranked):
        active, by = index == 0, (None if index == 0 else ranked[index - 1].id)
        if (fact.active, fact.superseded_by) != (active, by):
            fact = dataclasses.replace(fact, active=active, superseded_by=by)
        settled.append(fact)
    return settled


class FactGraph:
    """Entities are nodes; each active fact is an edge subject -> object keyed by the fact id."""

    def __init__(self) -> None:
        self.graph: nx.MultiDiGraph = nx.MultiDiGraph()
        self.facts: dict[str, Fact] = {}
        self.vectors: dict[str, np.ndarray] = {}
        self._versions: dict[tuple[str, str], list[str]] = defaultdict(list)
        self.entities = EntityIndex()

    def put(self, fact: Fact, vector: np.ndarray | None = None) -> None:
        """Insert or replace one record (any version); which version is active is then re-derived."""
        self.put_many([(fact, vector)])

    def put_many(self, records: Iterable[tuple[Fact, np.ndarray | None]]) -> None:
        """Insert or replace records, then settle each touched (subject, relation) once."""
        touched: set[tuple[str, str]] = set()
        for fact, vector in records:
            key = (fact.subject, fact.relation)
            if fact.id not in self.facts:
                self._versions[key].append(fact.id)
            else:
                self._unlink(self.facts[fact.id])
            self.facts[fact.id] = fact
            if vector is not None:
                self.vectors[fact.id] = vector
            touched.add(key)
        for key in touched:
            self._settle(key)

    def drop(self, fact_id: str) -> None:
        fact = self.facts.pop(fact_id)
        self.vectors.pop(fact_id, None)
        self._unlink(fact)
        versions = self._versions[(fact.subject, fact.relation)]
        versions.remove(fact_id)
        if not versions:
            del self._versions[(fact.subject, fact.relation)]
        self._settle((fact.subject, fact.relation))
        for name in (fact.subject, fact.object):
            if name in self.graph and self.graph.degree(name) == 0:
                self.graph.remove_node(name)

    def _add_edge(self, fact: Fact) -> None:
        """Every active fact is one edge, and names its subject and object (with aliases) for linking."""
        self.graph.add_edge(fact.subject, fact.object, key=fact.id)
        self.entities.add(fact.subject, fact.subject_aliases)
        self.entities.add(fact.object, fact.object_aliases)

    def _remove_edge(self, fact: Fact) -> None:
        self.graph.remove_edge(fact.subject, fact.object, key=fact.id)
        self.entities.remove(fact.subject, fact.subject_aliases)
        self.entities.remove(fact.object, fact.object_aliases)

    def _settle(self, key: tuple[str, str]) -> None:
        for fact in settle(self.facts[fact_id] for fact_id in self._versions.get(key, [])):
            self._unlink(self.facts[fact.id])
            self.facts[fact.id] = fact
            if fact.active:
                self._link(fact)

    def _link(self, fact: Fact) -> None:
        """The one place an active fact becomes an edge."""
        self._add_edge(fact)

    def _unlink(self, fact: Fact) -> None:
        """The one place an edge goes (the fact was replaced, dropped or superseded)."""
        if self.graph.has_edge(fact.subject, fact.object, key=fact.id):
            self._remove_edge(fact)

    def versions(self, subject: str, relation: str) -> list[Fact]:
        """All stored versions of (subject, relation), oldest first."""
        facts = [self.facts[fact_id] for fact_id in self._versions.get((subject, relation), [])]
        return sorted(facts, key=lambda fact: fact.added_at)

    def active(self, subject: str, relation: str) -> Fact | None:
        ranked = rank(self.facts[fact_id] for fact_id in self._versions.get((subject, relation), []))
        return ranked[0] if ranked else None

    def outgoing(self, entity: str) -> list[Fact]:
        if entity not in self.graph:
            return []
        return [self.facts[key] for _, _, key in self.graph.out_edges(entity, keys=True)]

    def link(self, text: str) -> list[EntityLink]:
        """Entities of active facts the text names, by name or alias (see `memory.entities`)."""
        return self.entities.link(text)

    def start_links(self, text: str) -> list[EntityLink]:
        """The links whose entity has outgoing active facts: where a chain can start."""
        return [link for link in self.link(text) if self.graph.out_degree(link.entity) > 0]

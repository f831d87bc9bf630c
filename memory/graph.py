"""In-process mirror of the Chroma store: a multi-digraph of the active facts plus every version's record.

Which version of a (subject, relation) is active is derived here from the stored versions (`settle`), never
read from a stored flag.

It exists for speed (supersession checks, chain walks and entity lookup need no Chroma round trip and no
re-embedding) and is always rebuilt from Chroma (or a snapshot that provably matches it) at open, so it can
never disagree with the store for long.

A graph built in bulk (`from_records`, what opening a memory does) holds the records at once and builds its
edges and entity index only when something first reads them: `hopedit facts stats` on a large memory never
pays for them, and a question pays once.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import Counter, defaultdict
from collections.abc import Iterable

import networkx as nx
import numpy as np

from memory.entities import EntityIndex, EntityLink
from memory.facts import Fact
from memory.lexical import content_terms


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

    # Active facts kept per relation as examples of how its source phrases it: enough to read a
    # relation's words without scanning the memory, since a source phrases one relation one way or a few.
    RELATION_EXAMPLES = 3

    def __init__(self) -> None:
        self.facts: dict[str, Fact] = {}
        self.vectors: dict[str, np.ndarray] = {}
        self._versions: dict[tuple[str, str], list[str]] = defaultdict(list)
        # None until first read in a graph built by `from_records` (see `_build_edges`).
        self._graph: nx.MultiDiGraph | None = nx.MultiDiGraph()
        self._entities: EntityIndex | None = EntityIndex()
        # A few active facts of each relation (`relation_examples`), and how many it has, kept with the
        # edges; `relations_revision` changes whenever the examples do.
        self._relation_examples: dict[str, dict[str, Fact]] = {}
        self._relation_sizes: Counter[str] = Counter()
        self.relations_revision = 0
        self._label_words: tuple[int, frozenset[str]] = (-1, frozenset())
        # Held while the edges are built and by every change, so a server thread reading the graph for
        # the first time and a commit in another never interleave.
        self._lock = threading.RLock()

    @classmethod
    def from_records(
        cls, records: Iterable[tuple[Fact, np.ndarray | None]], settled: bool = False
    ) -> FactGraph:
        """The graph `put_many` builds from these records on an empty graph, built in bulk.

        Each (subject, relation) is settled once, after all its versions are in (`settled=True`: the
        records' flags were derived already, as in a snapshot written from a graph); edges and entity
        index are built on first use, in one pass over the active facts.
        """
        built = cls()
        for fact, vector in records:
            if fact.id not in built.facts:
                built._versions[(fact.subject, fact.relation)].append(fact.id)
            built.facts[fact.id] = fact
            if vector is not None:
                built.vectors[fact.id] = vector
        if not settled:
            for ids in built._versions.values():
                for fact in settle(built.facts[fact_id] for fact_id in ids):
                    built.facts[fact.id] = fact
        built._graph = built._entities = None
        return built

    @property
    def graph(self) -> nx.MultiDiGraph:
        """Entities as nodes, one edge per active fact (built on first use in a bulk-built graph)."""
        graph = self._graph
        return graph if graph is not None else self._build_edges()[0]

    @property
    def entities(self) -> EntityIndex:
        """Names and aliases of the entities of active facts (built with the edges)."""
        entities = self._entities
        return entities if entities is not None and self._graph is not None else self._build_edges()[1]

    @property
    def edges_built(self) -> bool:
        """Whether the edges and entity index exist yet (reading `graph` or `entities` builds them)."""
        return self._graph is not None

    def _build_edges(self) -> tuple[nx.MultiDiGraph, EntityIndex]:
        with self._lock:
            if self._graph is not None and self._entities is not None:
                return self._graph, self._entities
            graph, entities = nx.MultiDiGraph(), EntityIndex()
            active = [fact for fact in self.facts.values() if fact.active]
            self._relation_examples, self._relation_sizes = {}, Counter()
            for fact in active:
                graph.add_edge(fact.subject, fact.object, key=fact.id)
                self._count_relation(fact)
            entities.add_many(
                named
                for fact in active
                for named in ((fact.subject, fact.subject_aliases), (fact.object, fact.object_aliases))
            )
            self._entities = entities
            self._graph = graph  # last: a reader that sees the graph sees the entity index too
            return graph, entities

    def put(self, fact: Fact, vector: np.ndarray | None = None) -> None:
        """Insert or replace one record (any version); which version is active is then re-derived."""
        self.put_many([(fact, vector)])

    def put_many(self, records: Iterable[tuple[Fact, np.ndarray | None]]) -> None:
        """Insert or replace records, then settle each touched (subject, relation) once."""
        with self._lock:
            # In the records' order (not a set's), so which facts become a relation's examples does not
            # depend on the process's string hashing.
            touched: dict[tuple[str, str], None] = {}
            for fact, vector in records:
                key = (fact.subject, fact.relation)
                if fact.id not in self.facts:
                    self._versions[key].append(fact.id)
                else:
                    self._unlink(self.facts[fact.id])
                self.facts[fact.id] = fact
                if vector is not None:
                    self.vectors[fact.id] = vector
                touched[key] = None
            for key in touched:
                self._settle(key)

    def drop(self, fact_id: str) -> None:
        with self._lock:
            fact = self.facts.pop(fact_id)
            self.vectors.pop(fact_id, None)
            self._unlink(fact)
            versions = self._versions[(fact.subject, fact.relation)]
            versions.remove(fact_id)
            if not versions:
                del self._versions[(fact.subject, fact.relation)]
            self._settle((fact.subject, fact.relation))
            graph = self._graph
            if graph is None:
                return  # built later from the facts, without this fact's names
            for name in (fact.subject, fact.object):
                if name in graph and graph.degree(name) == 0:
                    graph.remove_node(name)

    def _add_edge(self, fact: Fact) -> None:
        """Every active fact is one edge, and names its subject and object (with aliases) for linking."""
        self.graph.add_edge(fact.subject, fact.object, key=fact.id)
        self.entities.add(fact.subject, fact.subject_aliases)
        self.entities.add(fact.object, fact.object_aliases)
        self._count_relation(fact)

    def _remove_edge(self, fact: Fact) -> None:
        self.graph.remove_edge(fact.subject, fact.object, key=fact.id)
        self.entities.remove(fact.subject, fact.subject_aliases)
        self.entities.remove(fact.object, fact.object_aliases)
        relation = fact.relation
        self._relation_sizes[relation] -= 1
        examples = self._relation_examples.get(relation, {})
        if self._relation_sizes[relation] <= 0:
            del self._relation_sizes[relation]
            self._relation_examples.pop(relation, None)
            self.relations_revision += 1
        elif examples.pop(fact.id, None) is not None:
            self.relations_revision += 1

    def _count_relation(self, fact: Fact) -> None:
        """Count an active fact under its relation, and keep it as an example while there are few."""
        self._relation_sizes[fact.relation] += 1
        examples = self._relation_examples.setdefault(fact.relation, {})
        if len(examples) < self.RELATION_EXAMPLES:
            examples[fact.id] = fact
            self.relations_revision += 1

    def _settle(self, key: tuple[str, str]) -> None:
        for fact in settle(self.facts[fact_id] for fact_id in self._versions.get(key, [])):
            self._unlink(self.facts[fact.id])
            self.facts[fact.id] = fact
            if fact.active:
                self._link(fact)

    def _link(self, fact: Fact) -> None:
        """The one place an active fact becomes an edge (unless the edges are not built yet: they will be
        built from the facts as they are then)."""
        if self._graph is not None:
            self._add_edge(fact)

    def _unlink(self, fact: Fact) -> None:
        """The one place an edge goes (the fact was replaced, dropped or superseded)."""
        if self._graph is not None and self._graph.has_edge(fact.subject, fact.object, key=fact.id):
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
        """Entities of active facts the text names, by name or alias (see `memory.entities`). An alias
        made only of words of the memory's relation labels ("country" for country music, where "country
        of citizenship" is a relation) reads as that relation in a question, not as the entity, so it does
        not link; a name always does."""
        links = self.entities.link(text)
        if not any(link.by_alias for link in links):
            return links
        label_words = self._relation_label_words()
        return [
            link for link in links if not (link.by_alias and set(content_terms(link.surface)) <= label_words)
        ]

    def _relation_label_words(self) -> frozenset[str]:
        """The content words (stems) of the active relations' labels, recomputed when they change."""
        with self._lock:
            if self._graph is None:
                self._build_edges()
            revision, words = self._label_words
            if revision != self.relations_revision:
                labels = self._relation_sizes
                words = frozenset(term for relation in labels for term in content_terms(relation))
                self._label_words = (self.relations_revision, words)
            return words

    def relation_examples(self) -> tuple[int, dict[str, list[Fact]]]:
        """The revision, and each relation of an active fact with up to `RELATION_EXAMPLES` of its active
        facts. A relation whose examples were all removed while others remain lists none: no scan refills
        it (its label still names it)."""
        with self._lock:
            if self._graph is None:
                self._build_edges()
            return self.relations_revision, {
                relation: list(self._relation_examples.get(relation, {}).values())
                for relation in self._relation_sizes
            }

    def start_links(self, text: str) -> list[EntityLink]:
        """The links whose entity has outgoing active facts: where a chain can start."""
        return [link for link in self.link(text) if self.graph.out_degree(link.entity) > 0]

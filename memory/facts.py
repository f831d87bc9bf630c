"""The fact record every part of hopedit exchanges.

A fact is a (subject, relation, object) triple with its sentence form. Its id depends only on
the triple and its kind, so re-adding the same fact is a no-op.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Literal

FactKind = Literal["edit", "background"]


def fact_id(subject: str, relation: str, obj: str, kind: FactKind) -> str:
    key = "\x1f".join((subject.strip(), relation.strip(), obj.strip(), kind))
    return hashlib.sha1(key.encode()).hexdigest()[:16]


def fallback_sentence(subject: str, relation: str, obj: str) -> str:
    return f"{subject} {relation} {obj}."


def entity_names(pairs: Iterable[tuple[str, str]]) -> list[str]:
    """Subjects and objects of (subject, object) pairs, in order, without repeats: the entities the
    editor's relevance test looks for in a question."""
    return list(dict.fromkeys(name for pair in pairs for name in pair))


def clean_aliases(aliases: Iterable[str], name: str) -> tuple[str, ...]:
    """Distinct non-empty alias strings other than the name itself, in their given order."""
    if isinstance(aliases, str):
        raise ValueError(f"aliases must be a list of names, got the string {aliases!r}")
    kept: dict[str, None] = {}
    for alias in aliases:
        if not isinstance(alias, str):
            raise ValueError(f"an alias must be a string, got {alias!r}")
        alias = alias.strip()
        if alias and alias != name:
            kept[alias] = None
    return tuple(kept)


@dataclass
class Fact:
    subject: str
    relation: str
    object: str
    sentence: str = ""
    kind: FactKind = "edit"
    source: str = "api"
    added_at: float = field(default_factory=time.time)
    active: bool = True
    superseded_by: str | None = None
    id: str = ""
    # Other names of the subject and the object where a source gives them (RDF altLabel, an `aliases`
    # column, MQuAKE answer aliases): entity linking finds a question that uses any of them.
    subject_aliases: tuple[str, ...] = ()
    object_aliases: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("subject", "relation", "object"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"fact {name} must be a non-empty string, got {value!r}")
            setattr(self, name, value.strip())
        if self.kind not in ("edit", "background"):
            raise ValueError(f"fact kind must be 'edit' or 'background', got {self.kind!r}")
        self.sentence = self.sentence.strip() or fallback_sentence(self.subject, self.relation, self.object)
        self.subject_aliases = clean_aliases(self.subject_aliases, self.subject)
        self.object_aliases = clean_aliases(self.object_aliases, self.object)
        self.id = self.id or fact_id(self.subject, self.relation, self.object, self.kind)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ScoredFact:
    fact: Fact
    score: float  # cosine similarity to the query, in [-1, 1]


@dataclass
class Retrieval:
    """What a retriever found for one question, in chain order when the strategy knows one."""

    facts: list[ScoredFact]
    gated: bool  # True: the relevance gate judged nothing relevant; answer without edits
    # The top dense scores; empty when the vector search did not run (with the evidence gate, a path
    # from a named entity decides without it).
    top_scores: list[float] = field(default_factory=list)
    # What decided the gate (linked entities, path and dense scores, the rule), for traces and `/why`.
    evidence: dict = field(default_factory=dict)

    @property
    def sentences(self) -> list[str]:
        return [scored.fact.sentence for scored in self.facts]

    @property
    def entities(self) -> list[str]:
        """Subjects and objects of the facts with their aliases: a question that names an entity by an
        alias passes the editor's entity test as one that uses the name does."""
        names = entity_names((scored.fact.subject, scored.fact.object) for scored in self.facts)
        aliases = [
            alias
            for scored in self.facts
            for alias in (*scored.fact.subject_aliases, *scored.fact.object_aliases)
        ]
        return list(dict.fromkeys([*names, *aliases]))

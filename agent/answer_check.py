"""Check the model's answer against the chain of facts the retriever found.

Why: given a chain of facts about names it has never seen, the small prefix-edited model often answers
with an entity from the middle of the chain (it stops after hop j of k), or copies the chain's last name
with a slip ("Pithpour Shoulpoth" for "Pithpour Shoulpothsal"). The retriever has already found the path
from the entity the question names, hop by hop, so the path itself says where a chain the model stopped
in goes on. The check reads only what the model and the retriever produced; it never answers on its own:
  - the answer names an entity the chain passes through (its start or a hop before the last), exactly or
    as a near copy: the chain continues from there, so the answer is the chain's last entity;
  - the answer is a near copy of the chain's last entity (same name up to a few characters): it is that
    entity, spelled as the memory spells it.
A near copy is a character similarity (difflib ratio of the folded names) of at least
`min_copy_similarity`; the most similar entity is the one the answer names.
Any other answer is kept: the model may know better than an incomplete chain (with edits alone in the
memory, a question's unedited hops are not in the chain at all and the model bridges them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from difflib import SequenceMatcher
from typing import ClassVar

from memory.entities import name_tokens
from memory.facts import Fact
from memory.settings import YamlSettings


@dataclass(frozen=True)
class AnswerCheckConfig(YamlSettings):
    """`continue_stopped_chain`: an answer that names an entity inside the chain becomes its last entity.
    `min_copy_similarity`: the character similarity (difflib ratio of the folded names) from which an
    answer counts as naming a chain entity it does not spell exactly."""

    settings_name: ClassVar[str] = "answer check"

    continue_stopped_chain: bool = True
    min_copy_similarity: float = 0.8

    def __post_init__(self) -> None:
        if not isinstance(self.continue_stopped_chain, bool):
            raise ValueError(
                f"continue_stopped_chain must be true or false, got {self.continue_stopped_chain!r}"
            )
        if not isinstance(self.min_copy_similarity, int | float) or isinstance(
            self.min_copy_similarity, bool
        ):
            raise ValueError(f"min_copy_similarity must be a number, got {self.min_copy_similarity!r}")
        if not 0.0 < self.min_copy_similarity <= 1.0:
            raise ValueError(f"min_copy_similarity must be in (0, 1], got {self.min_copy_similarity}")


@dataclass(frozen=True)
class CheckedAnswer:
    """The answer after the check; `rule` names what changed it ("" when it was kept)."""

    text: str
    rule: str = ""
    reason: str = ""

    @property
    def changed(self) -> bool:
        return bool(self.rule)


def leading_chain(facts: Sequence[Fact]) -> list[Fact]:
    """The facts from the first on while each starts where the previous one ends (the retriever puts its
    path first; dense extras after it do not continue it)."""
    chain: list[Fact] = []
    for fact in facts:
        if chain and name_tokens(fact.subject) != name_tokens(chain[-1].object):
            break
        chain.append(fact)
    return chain


def _names(entity: str, aliases: Sequence[str]) -> set[tuple[str, ...]]:
    return {tokens for tokens in (name_tokens(entity), *(name_tokens(a) for a in aliases)) if tokens}


class ChainAnswerCheck:
    """A pipeline component: `run(answer, facts)` returns the checked answer."""

    def __init__(self, config: AnswerCheckConfig | None = None) -> None:
        self.config = config or AnswerCheckConfig()

    def run(self, answer: str, facts: Sequence[Fact]) -> CheckedAnswer:
        chain = leading_chain(facts)
        said = name_tokens(answer)
        if not chain or not said:
            return CheckedAnswer(answer)
        last = chain[-1]
        # The entities the chain passes through, by hop: its start (0), then each fact's object.
        entities = [(chain[0].subject, chain[0].subject_aliases)] + [
            (fact.object, fact.object_aliases) for fact in chain
        ]
        matched = self._match(said, entities)
        if matched is None:
            return CheckedAnswer(answer)
        hop, similarity = matched
        if hop == len(chain):
            if similarity == 1.0:
                return CheckedAnswer(answer)
            return CheckedAnswer(
                last.object,
                "copy",
                f"{answer!r} is a near copy ({similarity:.2f}) of the chain's last entity {last.object!r}",
            )
        if not self.config.continue_stopped_chain:
            return CheckedAnswer(answer)
        named = (
            entities[hop][0] if similarity == 1.0 else f"{entities[hop][0]!r} (near copy {similarity:.2f})"
        )
        return CheckedAnswer(
            last.object,
            "continue",
            f"{answer!r} names hop {hop} of a {len(chain)}-fact chain, {named}, that ends at {last.object!r}",
        )

    def _match(
        self, said: tuple[str, ...], entities: list[tuple[str, Sequence[str]]]
    ) -> tuple[int, float] | None:
        """The hop whose entity (name or alias, folded) the answer is most similar to, at or above
        `min_copy_similarity`, with that similarity (1.0: spelled exactly)."""
        text = " ".join(said)
        best: tuple[int, float] | None = None
        for hop, (entity, aliases) in enumerate(entities):
            for name in _names(entity, aliases):
                similarity = 1.0 if name == said else SequenceMatcher(None, text, " ".join(name)).ratio()
                if similarity >= self.config.min_copy_similarity and (best is None or similarity > best[1]):
                    best = (hop, similarity)
        return best

    def to_dict(self) -> dict:
        return {"name": "chain_answer_check", **asdict(self.config)}

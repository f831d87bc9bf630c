"""The MQuAKE evaluation protocol beyond the published accuracy rule: which cases the loaded memory can
answer at all (consistent cases), and which cases are asked with their edits withheld (unedited cases).

Consistency is a property of the data and of the memory a run loads, never of the method: when another
case's edit gives a fact of a case's gold chain (same subject and relation) another object, the memory
implies an answer other than the gold one, and no system that reads the memory can be right. Published
all-edits rows mix such cases in (MQuAKE-2002, MQuAKE-Remastered), so every summary reports both.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

Case = dict[str, Any]
Triple = tuple[str, str, str]

# What an evaluated case must answer: the edited chain's new answer, or (edits withheld) the original.
TARGET_NEW = "new"
TARGET_ORIGINAL = "original"


@dataclass(frozen=True)
class Conflict:
    """A loaded edit of another case that changes a triple of a case's gold chain."""

    chain_triple: Triple
    edit_triple: Triple
    edit_case: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "chain_triple": list(self.chain_triple),
            "edit_triple": list(self.edit_triple),
            "edit_case": self.edit_case,
        }


def edit_triples(case: Case) -> list[Triple]:
    """The case's edits as Wikidata id triples (subject, relation, new object)."""
    return [tuple(t) for t in case["orig"]["edit_triples"]]  # type: ignore[misc]


def gold_chain(case: Case, target: str) -> list[Triple]:
    """The id triples a correct answer rests on: the edited chain, or the original one."""
    key = "new_triples" if target == TARGET_NEW else "triples"
    return [tuple(t) for t in case["orig"][key]]  # type: ignore[misc]


class LoadedEdits:
    """Index of the edits one memory holds, by (subject, relation), remembering whose edit each is."""

    def __init__(self, cases: Iterable[Case]) -> None:
        self._by_key: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
        for case in cases:
            for subject, relation, obj in edit_triples(case):
                self._by_key[(subject, relation)].append((obj, str(case["case_id"])))

    def conflicts(self, case: Case, target: str) -> list[Conflict]:
        """Loaded edits of other cases that give a triple of the case's gold chain another object."""
        own = str(case["case_id"])
        found = []
        for subject, relation, obj in gold_chain(case, target):
            for other_obj, editor in self._by_key.get((subject, relation), []):
                if editor != own and other_obj != obj:
                    found.append(Conflict((subject, relation, obj), (subject, relation, other_obj), editor))
        return found


def consistency(case: Case, loaded: LoadedEdits, target: str) -> tuple[bool, list[Conflict]]:
    """(consistent, conflicts): consistent when no loaded edit of another case contradicts the chain the
    case's target answer rests on. A case's own edits never conflict with its own chain, and an edit of
    another case with the same object agrees with it."""
    conflicts = loaded.conflicts(case, target)
    return not conflicts, conflicts


def edited_case_ids(cases: Sequence[Case], share: float, seed: int) -> set[str]:
    """A seeded share of the file's cases whose edits are loaded; the rest keep their original world.

    Drawn over the whole file (not only the evaluated subset) so every batch's memory is the same whatever
    `--limit` is, and with its own random stream so it is independent of the case order.
    """
    if not 0.0 < share <= 1.0:
        raise ValueError(f"--edited-share must be in (0, 1], got {share}")
    ids = [str(case["case_id"]) for case in cases]
    if share == 1.0:
        return set(ids)
    chosen = random.Random(f"edited-share:{seed}").sample(ids, round(share * len(ids)))
    return set(chosen)

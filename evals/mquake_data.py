"""MQuAKE records as the evaluation needs them: a seeded case selection, edit batches, the gold chain
facts and the facts a case needs retrieved.

Batches are chunks of one seeded permutation of the whole file, so the memory content of every batch
is fixed by (file, seed, batch size) and a resumed run rebuilds exactly the memory it had.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

Case = dict[str, Any]


class EvalDataError(ValueError):
    """Bad benchmark file: the message names the file and the record."""


def load_cases(path: Path) -> list[Case]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise EvalDataError(f"{path}:{err.lineno}: not valid JSON ({err.msg})") from err
    if not isinstance(data, list):
        raise EvalDataError(f"{path}: expected a JSON list of MQuAKE records")
    for index, record in enumerate(data):
        missing = [k for k in ("case_id", "questions", "new_answer", "requested_rewrite") if k not in record]
        if missing:
            raise EvalDataError(f"{path}: record {index} lacks {', '.join(missing)}")
    return data


def permutation(n: int, seed: int) -> list[int]:
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return order


def edit_batches(cases: Sequence[Case], edits: str, seed: int) -> list[list[Case]]:
    """Groups of cases whose edits share one memory: `1` each case alone, `N` chunks of N cases of the
    seeded permutation, `all` every case of the file (the hardest, as in the published 3000-edit column)."""
    order = [cases[i] for i in permutation(len(cases), seed)]
    if edits == "all":
        return [order]
    size = int(edits)
    if size < 1:
        raise EvalDataError(f"--edits must be a positive number or 'all', got {edits!r}")
    return [order[start : start + size] for start in range(0, len(order), size)]


def selected_ids(cases: Sequence[Case], limit: int | None, seed: int) -> list[int]:
    """The evaluated subset: the first `limit` cases of the seeded permutation (stratification by hop
    count then follows the file, unlike taking the file's first cases, which are all two-hop)."""
    order = permutation(len(cases), seed)
    chosen = order if limit is None else order[:limit]
    return [cases[i]["case_id"] for i in chosen]


def edit_sentence(rewrite: Mapping) -> str:
    return f"{rewrite['prompt'].format(rewrite['subject'])} {rewrite['target_new']['str']}."


def needed_facts(case: Case, setting: str, target: str = "new") -> list[tuple[str, str]]:
    """(subject, object) pairs a retriever must find for a case: with edits only, its edits (the model
    bridges the unedited hops); with a background KG, its whole chain. A case asked with its edits
    withheld (target "original") needs its original chain from the KG, and nothing from an edits-only
    memory."""
    if target == "original":
        if setting != "edits+kg":
            return []
        return [(s, o) for s, _, o in case["orig"]["triples_labeled"]]
    if setting == "edits+kg":
        return [(s, o) for s, _, o in case["orig"]["new_triples_labeled"]]
    return [(r["subject"], r["target_new"]["str"]) for r in case["requested_rewrite"]]


def gold_chain_facts(case: Case) -> list[str]:
    """The edited chain as instruction sentences, one per hop (cloze + new answer)."""
    return [f"{hop['cloze']} {hop['answer']}." for hop in case["new_single_hops"]]


def write_batch_file(cases: Sequence[Case], path: Path) -> Path:
    """The batch as an MQuAKE-format file, so the memory's own loader turns it into facts (one place
    decides sentences, relations and KG supersession)."""
    path.write_text(json.dumps(list(cases)), encoding="utf-8")
    return path

"""Retrieval benchmark on MQuAKE-style cases: does retrieval deliver every fact a question needs?

All cases' facts go into one fresh memory (the hardest batch setting), then each multi-hop question is
retrieved by each retrieval variant. "Needed" facts: the case's edits (setting "edits"), or its whole
new chain (setting "edits+kg"). A question counts as recalled when the gate lets the facts through and
they include every needed fact: a chain the gate throws away reaches the model as nothing. Recall is
reported on all questions and on those of consistent cases (no other case's loaded edit contradicts the
chain; see `evals.protocol`), since for the others the needed facts are not all in the memory.
"""

from __future__ import annotations

import json
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from evals.mquake_data import needed_facts
from evals.protocol import TARGET_NEW, LoadedEdits, consistency
from memory.core import Memory
from memory.embedder import embed
from memory.retrieval import ChainRetriever, DenseRetriever, RetrievalConfig

SETTINGS = ("edits", "edits+kg")
_END_TO_END_SAMPLE = 100


@dataclass(frozen=True)
class Variant:
    """One retrieval configuration the bench compares."""

    name: str
    strategy: str  # chain | dense
    hops_given: bool
    changes: tuple[tuple[str, object], ...] = ()

    def config(self, base: RetrievalConfig) -> RetrievalConfig:
        # `replace`, not `with_overrides`: a change to None (a setting turned off) is meant.
        return replace(base, **dict(self.changes))


VARIANTS = (
    Variant("beam + evidence gate, N unknown (default)", "chain", False),
    Variant("beam + evidence gate, N given", "chain", True),
    Variant(
        "greedy walk + std gate, N unknown (before)", "chain", False, (("walk", "greedy"), ("gate", "std"))
    ),
    Variant("beam + std gate, N unknown (ablation)", "chain", False, (("gate", "std"),)),
    Variant(
        "beam + evidence gate, equal word weights, N unknown (ablation)",
        "chain",
        False,
        (("word_weights", "equal"),),
    ),
    Variant(
        "beam + evidence gate, paths read with the start's name only, N unknown (ablation)",
        "chain",
        False,
        (("path_start", "name"),),
    ),
    Variant(
        "beam + evidence gate, equal words only in the word fit, N unknown (ablation)",
        "chain",
        False,
        (("near_word_cosine", None),),
    ),
    Variant(
        "beam + evidence gate, paths the question's words do not name need a gain of 0.2, N unknown (option)",
        "chain",
        False,
        (("min_unnamed_path_gain", 0.2),),
    ),
    Variant(
        "beam + evidence gate, dense hits count beside a named entity, N unknown (ablation)",
        "chain",
        False,
        (("dense_beside_named_entity", True),),
    ),
    Variant(
        "beam + evidence gate, relation order not read, N unknown (ablation)",
        "chain",
        False,
        (("relation_order", False),),
    ),
    Variant("dense + std gate, N given", "dense", True, (("gate", "std"),)),
)


@dataclass
class Question:
    case: int
    text: str
    hops: int
    needed: frozenset[tuple[str, str]]  # (subject, object) of each needed fact
    consistent: bool


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def _share(flags: list[bool]) -> float | None:
    return sum(flags) / len(flags) if flags else None


def run_retrieval_bench(
    data: Path,
    setting: str,
    limit: int | None = None,
    config: RetrievalConfig | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    variants: tuple[Variant, ...] = VARIANTS,
    sample: int | None = None,
) -> dict:
    """`limit`: the first cases of the file fill the memory; `sample`: only a seeded sample of those
    cases' questions is asked (the memory still holds every loaded case)."""
    if setting not in SETTINGS:
        raise ValueError(f"setting must be one of {SETTINGS}")
    base = config or RetrievalConfig()
    report = progress or (lambda stage, done, total: None)
    cases = json.loads(Path(data).read_text(encoding="utf-8"))[:limit]
    loaded = LoadedEdits(cases)
    asked = (
        set(range(len(cases))) if sample is None else set(random.Random(0).sample(range(len(cases)), sample))
    )
    questions = [
        Question(
            index,
            text,
            len(case["new_single_hops"]),
            frozenset(needed_facts(case, setting)),
            consistency(case, loaded, TARGET_NEW)[0],
        )
        for index, case in enumerate(cases)
        if index in asked
        for text in case["questions"]
    ]
    with tempfile.TemporaryDirectory(prefix="hopedit-bench-") as tmp:
        subset = Path(tmp) / "cases.json"
        subset.write_text(json.dumps(cases), encoding="utf-8")
        memory = Memory.open(Path(tmp) / "memory", config=base)
        started = time.perf_counter()
        memory.load_file(subset, format="mquake", with_kg=setting == "edits+kg", progress=report)
        load_seconds = time.perf_counter() - started
        active = {(fact.subject, fact.object) for fact in memory.facts()}
        vectors = embed([question.text for question in questions])
        results: dict[str, dict] = {}
        for variant in variants:
            variant_config = variant.config(base)
            retriever = (
                ChainRetriever(memory.store, memory.graph, variant_config)
                if variant.strategy == "chain"
                else DenseRetriever(memory.store, variant_config)
            )
            hits, gated, returned, latencies = [], [], [], []
            case_hit: dict[int, bool] = {}
            for done, (question, vector) in enumerate(zip(questions, vectors, strict=True), start=1):
                started = time.perf_counter()
                found = retriever.retrieve_embedded(
                    question.text, vector, question.hops if variant.hops_given else None
                )
                latencies.append(time.perf_counter() - started)
                got = {(scored.fact.subject, scored.fact.object) for scored in found.facts}
                ok = not found.gated and question.needed <= got
                hits.append(ok)
                gated.append(found.gated)
                returned.append(len(found.facts))
                case_hit[question.case] = case_hit.get(question.case, False) or ok
                if done % 200 == 0 or done == len(questions):
                    report(variant.name, done, len(questions))
            end_to_end = []
            for question in questions[:_END_TO_END_SAMPLE]:
                started = time.perf_counter()
                retriever.retrieve(question.text, question.hops if variant.hops_given else None)
                end_to_end.append(time.perf_counter() - started)
            consistent_hits = [h for h, q in zip(hits, questions, strict=True) if q.consistent]
            results[variant.name] = {
                "config": variant_config.to_dict(),
                "hops_given": variant.hops_given,
                "question_recall": _share(hits),
                "question_recall_consistent": _share(consistent_hits),
                "case_recall_any_question": _share(list(case_hit.values())),
                "gated_share": _share(gated),
                "mean_facts_returned": statistics.fmean(returned),
                "latency_ms_p50": 1000 * _percentile(latencies, 50),
                "latency_ms_p95": 1000 * _percentile(latencies, 95),
                "end_to_end_ms_p50": 1000 * _percentile(end_to_end, 50),
                "end_to_end_ms_p95": 1000 * _percentile(end_to_end, 95),
            }
        stats = memory.stats()
    reachable = sum(question.needed <= active for question in questions) / len(questions)
    return {
        "data": str(data),
        "setting": setting,
        "cases": len(cases),
        "cases_asked": len(asked),
        "questions": len(questions),
        "consistent_questions": sum(q.consistent for q in questions),
        "memory": {key: value for key, value in stats.items() if key != "store"},
        "load_seconds": load_seconds,
        # Share of questions whose needed facts are all active at all (conflicting edits of different
        # cases supersede each other): no retriever can beat this.
        "needed_facts_active": reachable,
        "config": base.to_dict(),
        "variants": results,
    }

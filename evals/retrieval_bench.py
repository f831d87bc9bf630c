"""Retrieval benchmark on MQuAKE-style cases: do the N retrieved facts contain every fact a question needs?

All cases' facts go into one fresh memory (the hardest batch setting), then each multi-hop question is
retrieved with N = its hop count. "Needed" facts: the case's edits (setting "edits"), or its whole new
chain (setting "edits+kg"). Questions are embedded in one batch so the retrieval latency reported is that
of the strategy itself; the end-to-end latency (with the question embedding) is measured on a sample.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from memory.core import Memory
from memory.embedder import embed
from memory.loaders import mquake_needed_facts
from memory.retrieval import RetrievalConfig

SETTINGS = ("edits", "edits+kg")
# (name, strategy, whether the hop count is given)
STRATEGIES = (("chain", "chain", True), ("dense", "dense", True), ("chain, N unknown", "chain", False))
_END_TO_END_SAMPLE = 100


@dataclass
class Question:
    case: int
    text: str
    hops: int
    needed: frozenset[tuple[str, str]]  # (subject, object) of each needed fact


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def run_retrieval_bench(
    data: Path,
    setting: str,
    limit: int | None = None,
    config: RetrievalConfig | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict:
    if setting not in SETTINGS:
        raise ValueError(f"setting must be one of {SETTINGS}")
    report = progress or (lambda stage, done, total: None)
    cases = json.loads(Path(data).read_text(encoding="utf-8"))[:limit]
    questions = [
        Question(index, text, len(case["new_single_hops"]), frozenset(mquake_needed_facts(case, setting)))
        for index, case in enumerate(cases)
        for text in case["questions"]
    ]
    with tempfile.TemporaryDirectory(prefix="hopedit-bench-") as tmp:
        subset = Path(tmp) / "cases.json"
        subset.write_text(json.dumps(cases), encoding="utf-8")
        memory = Memory.open(Path(tmp) / "memory", config=config)
        started = time.perf_counter()
        memory.load_file(subset, format="mquake", with_kg=setting == "edits+kg", progress=report)
        load_seconds = time.perf_counter() - started
        active = {(fact.subject, fact.object) for fact in memory.facts()}
        vectors = embed([question.text for question in questions])
        results: dict[str, dict] = {}
        for name, strategy, hops_given in STRATEGIES:
            retriever = memory.retriever(strategy)
            hits, returned, latencies = [], [], []
            case_hit: dict[int, bool] = {}
            for done, (question, vector) in enumerate(zip(questions, vectors, strict=True), start=1):
                started = time.perf_counter()
                found = retriever.retrieve_embedded(
                    question.text, vector, question.hops if hops_given else None
                )
                latencies.append(time.perf_counter() - started)
                got = {(scored.fact.subject, scored.fact.object) for scored in found.facts}
                ok = question.needed <= got
                hits.append(ok)
                returned.append(len(found.facts))
                case_hit[question.case] = case_hit.get(question.case, False) or ok
                if done % 200 == 0 or done == len(questions):
                    report(name, done, len(questions))
            end_to_end = []
            for question in questions[:_END_TO_END_SAMPLE]:
                started = time.perf_counter()
                retriever.retrieve(question.text, question.hops if hops_given else None)
                end_to_end.append(time.perf_counter() - started)
            results[name] = {
                "question_recall": sum(hits) / len(hits),
                "case_recall_any_question": sum(case_hit.values()) / len(case_hit),
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
        "questions": len(questions),
        "memory": {key: value for key, value in stats.items() if key != "store"},
        "load_seconds": load_seconds,
        # Share of questions whose needed facts are all active at all (conflicting edits of different
        # cases supersede each other): no retriever can beat this.
        "needed_facts_active": reachable,
        "config": (config or RetrievalConfig()).__dict__,
        "strategies": results,
    }

"""`hopedit bench`: what each method costs on this machine, and how the memory scales.

Methods answer the same questions over the same memory (the edits of a few MQuAKE-hard training cases
shipped in evals/data, or of --data), batched and one at a time. The memory part fills a store with
synthetic facts and times queries at each requested size.
"""

from __future__ import annotations

import json
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evals.mquake_data import load_cases
from evals.progress import progress_bar
from evals.resources import Resources
from evals.results import write_json

DEFAULT_CASES = Path(__file__).parent / "data" / "bench_cases.json"
_RELATIONS = ("is a citizen of", "was born in", "works for", "is married to", "speaks", "plays for")


@dataclass
class BenchConfig:
    methods: list[str]
    out: Path
    data: Path | None = None
    n_questions: int = 30
    n_single: int = 10
    scales: list[int] = field(default_factory=lambda: [1000, 10000, 100000])
    cold_start: bool = True
    seed: int = 0
    command: str = ""
    resources: Resources = field(default_factory=Resources)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile: no interpolation, so p95 of few samples is an observed latency."""
    ordered = sorted(values)
    rank = max(1, round(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def _questions(cases: list[dict], n: int) -> list[str]:
    """Round-robin over the cases' paraphrases so n questions touch as many cases as possible."""
    pool = [case["questions"][i] for i in range(3) for case in cases]
    return pool[:n]


def bench_method(cfg: BenchConfig, method: str, memory: Any, questions: list[str]) -> dict:
    agent = cfg.resources.agent(method, memory)
    agent.answer(questions[0])  # warm-up: first-call allocations are not the steady state
    start = time.perf_counter()
    answers = agent.answer_batch(questions)
    batched = time.perf_counter() - start
    latencies = []
    with progress_bar(f"{method}: one at a time", total=min(cfg.n_single, len(questions))) as advance:
        for question in questions[: cfg.n_single]:
            t0 = time.perf_counter()
            agent.answer(question)
            latencies.append(time.perf_counter() - t0)
            advance(1)
    return {
        "method": method,
        "n_questions": len(questions),
        "batched_seconds": batched,
        "batched_qps": len(questions) / batched,
        "single_n": len(latencies),
        "single_qps": len(latencies) / sum(latencies),
        "latency_p50": percentile(latencies, 50),
        "latency_p95": percentile(latencies, 95),
        "model_calls_per_question": sum(a.model_calls for a in answers) / len(answers),
    }


def _synthetic_facts(start: int, count: int, rng: random.Random) -> list[Any]:
    from memory.facts import Fact

    facts = []
    for i in range(start, start + count):
        relation = _RELATIONS[i % len(_RELATIONS)]
        facts.append(
            Fact(f"Person {i}", relation, f"Place {rng.randrange(10 * (i + 1))}", kind="edit", source="bench")
        )
    return facts


def bench_memory(scales: list[int], seed: int, tmp: Path) -> list[dict]:
    """Fill one store up to each scale in chunks, timing ingestion, then time search and retrieve."""
    from memory import Memory

    mem = Memory.open(tmp / "scale-store")
    rng = random.Random(seed)
    rows, size, chunk = [], 0, 1000
    with progress_bar("memory: ingesting synthetic facts", total=max(scales)) as advance:
        for scale in sorted(scales):
            t0 = time.perf_counter()
            added = scale - size
            while size < scale:
                n = min(chunk, scale - size)
                mem.add(_synthetic_facts(size, n, rng))
                size += n
                advance(n)
            ingest = time.perf_counter() - t0
            queries = [f"Where was Person {rng.randrange(size)} born?" for _ in range(20)]
            search, retrieve = [], []
            for query in queries:
                t1 = time.perf_counter()
                mem.search(query, k=5)
                search.append(time.perf_counter() - t1)
                t2 = time.perf_counter()
                mem.retrieve(query)
                retrieve.append(time.perf_counter() - t2)
            rows.append(
                {
                    "facts": size,
                    "ingest_facts_per_second": added / ingest,
                    "search_p50_ms": 1000 * percentile(search, 50),
                    "search_p95_ms": 1000 * percentile(search, 95),
                    "retrieve_p50_ms": 1000 * percentile(retrieve, 50),
                    "retrieve_p95_ms": 1000 * percentile(retrieve, 95),
                }
            )
    return rows


def cold_start(question: str, store: Path) -> dict:
    """Wall time of a fresh `hopedit ask` process (imports, model load, one answer)."""
    exe = Path(sys.executable).parent / "hopedit"
    command = [str(exe) if exe.exists() else (shutil.which("hopedit") or "hopedit")]
    command += ["ask", question, "--method", "base", "--store", str(store)]
    t0 = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    return {"seconds": time.perf_counter() - t0, "returncode": done.returncode, "command": " ".join(command)}


def run_bench(cfg: BenchConfig) -> dict:
    from memory import Memory

    cases = load_cases(cfg.data or DEFAULT_CASES)
    questions = _questions(cases, cfg.n_questions)
    result: dict[str, Any] = {
        "command": cfg.command,
        "data": str(cfg.data or DEFAULT_CASES.name),
        "methods": [],
    }
    with tempfile.TemporaryDirectory(prefix="hopedit-bench-") as tmp_name:
        tmp = Path(tmp_name)
        memory = Memory.open(tmp / "store")
        batch_file = tmp / "cases.json"
        batch_file.write_text(json.dumps(cases), encoding="utf-8")
        t0 = time.perf_counter()
        loaded = memory.load_file(batch_file, format="mquake", kind="edit")
        result["edit_facts"] = len(loaded.added)
        result["edit_ingest_facts_per_second"] = len(loaded.added) / (time.perf_counter() - t0)
        for method in cfg.methods:
            result["methods"].append(bench_method(cfg, method, memory, questions))
        result["memory_scaling"] = bench_memory(cfg.scales, cfg.seed, tmp) if cfg.scales else []
        result["cold_start"] = cold_start(questions[0], tmp / "store") if cfg.cold_start else None
    usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    result["peak_rss_mib"] = usage / 1024
    result["latency_unit"] = "seconds per question"
    cfg.out.mkdir(parents=True, exist_ok=True)
    write_json(cfg.out / "bench.json", result)
    return result


def print_bench(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(
        title=f"Methods on {result['methods'][0]['n_questions'] if result['methods'] else 0} questions"
    )
    for column in ("method", "batched q/s", "single q/s", "p50 s", "p95 s", "model calls/q"):
        table.add_column(column, justify="right")
    for row in result["methods"]:
        table.add_row(
            row["method"],
            f"{row['batched_qps']:.2f}",
            f"{row['single_qps']:.2f}",
            f"{row['latency_p50']:.2f}",
            f"{row['latency_p95']:.2f}",
            f"{row['model_calls_per_question']:.1f}",
        )
    console.print(table)
    if result.get("memory_scaling"):
        mem_table = Table(title="Memory scaling (synthetic facts)")
        for column in ("facts", "ingest facts/s", "search p50 ms", "search p95 ms", "retrieve p50 ms"):
            mem_table.add_column(column, justify="right")
        for row in result["memory_scaling"]:
            mem_table.add_row(
                str(row["facts"]),
                f"{row['ingest_facts_per_second']:.0f}",
                f"{row['search_p50_ms']:.1f}",
                f"{row['search_p95_ms']:.1f}",
                f"{row['retrieve_p50_ms']:.1f}",
            )
        console.print(mem_table)
    if result.get("cold_start"):
        console.print(f"cold start (`hopedit ask`): {result['cold_start']['seconds']:.1f} s")
    console.print(f"peak RSS: {result['peak_rss_mib']:.0f} MiB")

"""`hopedit bench`: what each method costs on this machine, and how the memory scales.

Methods answer the same questions over the same memory (the edits of a few MQuAKE-hard training cases
shipped in evals/data, or of --data), batched and one at a time. The memory part fills a store with
synthetic facts and times queries at each requested size.
"""

from __future__ import annotations

import json
import os
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
    # Warm-up through the batched path that is timed: its first batch also builds the demonstrations'
    # prefix cache.
    agent.answer_batch(questions[:4])
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
    result["load_average"] = list(os.getloadavg())  # timings on a shared CPU need this context
    cfg.out.mkdir(parents=True, exist_ok=True)
    write_json(cfg.out / "bench.json", result)
    write_bench_report(result, cfg.out)
    return result


def write_bench_report(result: dict, out: Path) -> None:
    """bench.md (tables + command) and bench.png (throughput per method, query latency per memory size)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = ["| method | batched q/s | single q/s | p50 s | p95 s | model calls/q |", "|" + " --- |" * 6]
    rows += [
        f"| {m['method']} | {m['batched_qps']:.2f} | {m['single_qps']:.2f} | {m['latency_p50']:.2f} "
        f"| {m['latency_p95']:.2f} | {m['model_calls_per_question']:.1f} |"
        for m in result["methods"]
    ]
    rows += [
        "",
        "| facts | ingest facts/s | search p50 ms | search p95 ms | retrieve p50 ms |",
        "|" + " --- |" * 5,
    ]
    rows += [
        f"| {r['facts']} | {r['ingest_facts_per_second']:.0f} | {r['search_p50_ms']:.1f} "
        f"| {r['search_p95_ms']:.1f} | {r['retrieve_p50_ms']:.1f} |"
        for r in result.get("memory_scaling", [])
    ]
    cold = result.get("cold_start")
    rows += [
        "",
        f"cold start (`hopedit ask`, base): {cold['seconds']:.1f} s" if cold else "cold start: not measured",
        f"peak RSS: {result['peak_rss_mib']:.0f} MiB; load average: {result.get('load_average')}",
        "",
        f"Command: `{result['command']}`",
    ]
    (out / "bench.md").write_text("# hopedit bench\n\n" + "\n".join(rows) + "\n", encoding="utf-8")
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    names = [m["method"] for m in result["methods"]]
    xs = range(len(names))
    left.bar([x - 0.2 for x in xs], [m["batched_qps"] for m in result["methods"]], 0.4, label="batched")
    left.bar([x + 0.2 for x in xs], [m["single_qps"] for m in result["methods"]], 0.4, label="one at a time")
    left.set_xticks(list(xs), names)
    left.set_ylabel("questions / s")
    left.set_title("Throughput per method")
    left.legend()
    scaling = result.get("memory_scaling", [])
    if scaling:
        facts = [r["facts"] for r in scaling]
        right.plot(facts, [r["search_p50_ms"] for r in scaling], "o-", label="search p50")
        right.plot(facts, [r["retrieve_p50_ms"] for r in scaling], "s-", label="retrieve p50")
        right.set_xscale("log")
        right.set_xlabel("facts in memory")
        right.set_ylabel("ms")
        right.set_title("Query latency")
        right.legend()
    fig.tight_layout()
    fig.savefig(out / "bench.png", dpi=110)
    plt.close(fig)


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

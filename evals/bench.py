"""`hopedit bench`: what each method costs on this machine, how the memory scales, and what the CPU can do.

One run writes bench.json, bench.md and bench.png with:

- the machine: CPU model and features (AVX-512, AMX, ...), the measured matmul rate per precision, and
  the load average at start and end (timings on a shared CPU need that context);
- methods over the same memory (the edits of a few MQuAKE-hard training cases in evals/data, or --data):
  questions/s batched and one at a time, p50/p95 latency, model calls, tokens, and the share of the
  fp32 matmul rate the pipeline reaches for the tokens it processes;
- the memory at each requested size (synthetic facts with history, `evals.synthetic`), embedded and on
  a Chroma server: ingest rate, fact search and retrieval p50/p95, closing time (an embedded memory
  writes its snapshot then), opening time and where the records came from (snapshot or Chroma), the
  first retrieval after opening (it builds the graph's edges and entity index), and fresh
  `hopedit facts stats` and `hopedit ask` processes on that memory (embedded);
- cold start and peak RSS of fresh `hopedit` processes: `ask`, `chat` up to its first answer, `serve`
  up to a ready /health;
- `figures`: the headline numbers issue 16 tracks, in one place, so runs compare side by side.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evals.mquake_data import load_cases
from evals.progress import progress_bar
from evals.resources import Resources
from evals.results import write_json
from evals.synthetic import bench_queries, synthetic_facts

DEFAULT_CASES = Path(__file__).parent / "data" / "bench_cases.json"
MODES = ("embedded", "server")
_INGEST_CHUNK = 10_000  # facts per Memory.add: large writes, as a real graph load makes
_QUERIES = 50  # timed searches and retrievals per memory size
_MATMUL_SIZE = 1024
# Every key bench.json has at the top level; a test checks a run writes them all.
RESULT_KEYS = (
    "fingerprint",
    "command",
    "data",
    "machine",
    "matmul",
    "methods",
    "memory_scaling",
    "commands",
    "figures",
    "limits",
    "peak_rss_mib",
    "latency_unit",
)
FIGURE_KEYS = (
    "max_facts",
    "search_p95_ms",
    "retrieve_p50_ms",
    "ingest_facts_per_second",
    "open_seconds",
    "open_first_retrieve_seconds",
    "facts_stats_seconds",
    "ask_on_largest_seconds",
    "cold_start_ask_seconds",
    "peak_rss_ask_mib",
    "pipeline_vs_mello_batched",
    "pipeline_single_p50_seconds",
)


@dataclass
class BenchConfig:
    methods: list[str]
    out: Path
    data: Path | None = None
    n_questions: int = 30
    n_single: int = 10
    scales: list[int] = field(default_factory=lambda: [1000, 10000, 100000])
    modes: list[str] = field(default_factory=lambda: list(MODES))
    cold_start: bool = True
    seed: int = 0
    command: str = ""
    resources: Resources = field(default_factory=Resources)

    def __post_init__(self) -> None:
        unknown = [mode for mode in self.modes if mode not in MODES]
        if unknown:
            raise ValueError(f"unknown memory mode(s) {', '.join(unknown)}; choose from {', '.join(MODES)}")
        if any(scale <= 0 for scale in self.scales):
            raise ValueError(f"memory sizes must be positive, got {self.scales}")


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile: no interpolation, so p95 of few samples is an observed latency."""
    ordered = sorted(values)
    rank = max(1, round(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def _questions(cases: list[dict], n: int) -> list[str]:
    """Round-robin over the cases' paraphrases so n questions touch as many cases as possible."""
    pool = [case["questions"][i] for i in range(3) for case in cases]
    return pool[:n]


# ---------------------------------------------------------------------------------------------- machine


def machine_info() -> dict:
    import torch

    from memory.cpu import REPORTED_FLAGS, cpu_features, cpu_model

    features = cpu_features()
    return {
        "cpu_model": cpu_model(),
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "features": [flag for flag in REPORTED_FLAGS if flag in features],
        "load_average_start": list(os.getloadavg()),
    }


def matmul_rates(size: int = _MATMUL_SIZE, seconds: float = 1.0) -> list[dict]:
    """GFLOP/s of a size^3 matmul per precision, on torch's threads (int8 where torch has a CPU kernel)."""
    import torch

    rows = []
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16), ("int8", torch.int8)):
        if dtype is torch.int8:
            a = torch.randint(-100, 100, (size, size), dtype=torch.int8)
            b = torch.randint(-100, 100, (size, size), dtype=torch.int8)

            def run(a: torch.Tensor = a, b: torch.Tensor = b) -> torch.Tensor:
                return torch._int_mm(a, b)
        else:
            a = torch.randn(size, size, dtype=dtype)
            b = torch.randn(size, size, dtype=dtype)

            def run(a: torch.Tensor = a, b: torch.Tensor = b) -> torch.Tensor:
                return a @ b

        try:
            run()  # warm-up (and the check that the kernel exists)
        except RuntimeError as error:
            rows.append({"precision": name, "gflops": None, "size": size, "note": str(error)[:120]})
            continue
        reps, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            run()
            reps += 1
        elapsed = time.perf_counter() - started
        rows.append({"precision": name, "gflops": 2 * size**3 * reps / elapsed / 1e9, "size": size})
    return rows


# ---------------------------------------------------------------------------------------------- methods


def _model_parameters(resources: Resources) -> int | None:
    llm = getattr(getattr(resources, "engine", None), "loaded_llm", None)
    if llm is None:
        return None
    return sum(parameter.numel() for parameter in llm.loaded.model.parameters())


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
    tokens = sum(answer.prompt_tokens + answer.completion_tokens for answer in answers)
    parameters = _model_parameters(cfg.resources)
    return {
        "method": method,
        "n_questions": len(questions),
        "batched_seconds": batched,
        "batched_qps": len(questions) / batched,
        "single_n": len(latencies),
        "single_qps": len(latencies) / sum(latencies) if latencies else None,
        "latency_p50": percentile(latencies, 50) if latencies else None,
        "latency_p95": percentile(latencies, 95) if latencies else None,
        "model_calls_per_question": sum(a.model_calls for a in answers) / len(answers),
        "tokens_per_question": tokens / len(answers),
        # A forward pass costs about 2 FLOPs per parameter per token (attention over short prompts is
        # small next to that); tokens a prefix cache skipped are counted, so this is an upper bound.
        "model_parameters": parameters,
        "achieved_gflops": 2 * parameters * tokens / batched / 1e9 if parameters and tokens else None,
    }


# ----------------------------------------------------------------------------------------------- memory


def _rss_mib() -> float:
    """This process's resident set now (Linux /proc; the peak where that is missing)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def chroma_server(data_dir: Path, timeout_s: float = 60.0) -> Iterator[str]:
    """`chroma run` from this venv on a free port; yields its URL once the heartbeat answers."""
    import socket

    import httpx

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    chroma = Path(sys.executable).parent / "chroma"
    data_dir.mkdir(parents=True, exist_ok=True)
    log = (data_dir.parent / f"chroma-{port}.log").open("w")
    process = subprocess.Popen(
        [str(chroma), "run", "--path", str(data_dir), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"chroma run exited with {process.returncode}; see {log.name}")
            try:
                if httpx.get(f"{url}/api/v2/heartbeat", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("the Chroma server did not answer its heartbeat")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _time_queries(memory: Any, size: int, seed: int) -> dict:
    from memory.embedder import embed

    embed(["warm-up"])
    search, retrieve = [], []
    for query in bench_queries(size, _QUERIES, seed):
        t0 = time.perf_counter()
        memory.search(query, k=5)
        t1 = time.perf_counter()
        memory.retrieve(query)
        t2 = time.perf_counter()
        search.append(t1 - t0)
        retrieve.append(t2 - t1)
    return {
        "search_p50_ms": 1000 * percentile(search, 50),
        "search_p95_ms": 1000 * percentile(search, 95),
        "retrieve_p50_ms": 1000 * percentile(retrieve, 50),
        "retrieve_p95_ms": 1000 * percentile(retrieve, 95),
    }


def bench_memory(
    scales: list[int],
    seed: int,
    mode: str,
    open_memory: Callable[[], Any],
    store_dir: Path | None,
    fresh_ask: bool = False,
) -> list[dict]:
    """Fill one memory up to each size in large writes, timing the ingest, queries, closing, a re-open and
    its first retrieval, and (embedded) fresh `facts stats` and, with `fresh_ask`, `ask` processes."""
    rows, size = [], 0
    memory = open_memory()
    try:
        with progress_bar(f"memory ({mode}): ingesting synthetic facts", total=max(scales)) as advance:
            for scale in sorted(scales):
                added, started = scale - size, time.perf_counter()
                while size < scale:
                    n = min(_INGEST_CHUNK, scale - size)
                    memory.add(synthetic_facts(size, n, seed))
                    size += n
                    advance(n)
                ingest = time.perf_counter() - started
                row: dict[str, Any] = {
                    "mode": mode,
                    "facts": size,
                    "ingest_seconds": ingest,
                    "ingest_facts_per_second": added / ingest if ingest > 0 else None,
                    **_time_queries(memory, size, seed),
                }
                stats = memory.stats()
                row["active"] = stats["active"]
                row["history"] = stats["inactive"]
                started = time.perf_counter()
                memory.close()
                row["close_seconds"] = time.perf_counter() - started
                started = time.perf_counter()
                memory = open_memory()
                row["open_seconds"] = time.perf_counter() - started
                row["opened_from"] = "snapshot" if memory.integrity.from_snapshot else "chroma"
                started = time.perf_counter()
                memory.retrieve(next(bench_queries(size, 1, seed + 1)))
                row["first_retrieve_seconds"] = time.perf_counter() - started
                row["rss_mib"] = _rss_mib()
                if store_dir is not None:
                    memory.close()
                    store = ["--store", str(store_dir)]
                    row["stats_command"] = run_command("facts stats", [*_hopedit(), "facts", "stats", *store])
                    if fresh_ask:
                        question = next(bench_queries(size, 1, seed + 2))
                        row["ask_command"] = run_command("ask", [*_hopedit(), "ask", question, *store])
                    memory = open_memory()
                rows.append(row)
    finally:
        memory.close()
    return rows


# --------------------------------------------------------------------------------------------- commands


def _hopedit() -> list[str]:
    exe = Path(sys.executable).parent / "hopedit"
    return [str(exe) if exe.exists() else (shutil.which("hopedit") or "hopedit")]


def _hwm_mib(pid: int) -> float | None:
    """A live process's peak RSS (VmHWM, Linux). Not wait4's ru_maxrss: exec carries the forking
    parent's high-water mark into it, so every child of a big bench process reported the bench's RSS."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _wait_rusage(process: subprocess.Popen, timeout_s: float) -> tuple[int, float | None]:
    """Wait for one child and return (exit status, its peak RSS in MiB as last seen alive)."""
    deadline, peak = time.monotonic() + timeout_s, None
    while True:
        seen = _hwm_mib(process.pid)
        peak = seen if seen is not None else peak
        pid, status, _ = os.wait4(process.pid, os.WNOHANG)
        if pid:
            process.returncode = os.waitstatus_to_exitcode(status)
            return process.returncode, peak
        if time.monotonic() > deadline:
            process.kill()
        time.sleep(0.02)


def run_command(name: str, command: list[str], stdin: str | None = None, timeout_s: float = 600) -> dict:
    """Wall time and peak RSS of one fresh process, from start to exit."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    if stdin is not None and process.stdin is not None:
        process.stdin.write(stdin)
        process.stdin.close()
    returncode, rss = _wait_rusage(process, timeout_s)
    return {
        "command": name,
        "seconds": time.perf_counter() - started,
        "peak_rss_mib": rss,
        "returncode": returncode,
        "argv": " ".join(command),
    }


def serve_ready(store: Path, timeout_s: float = 600) -> dict:
    """Time from starting `hopedit serve` to GET /health answering 200 (the model loaded), and its RSS."""
    import socket

    import httpx

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [*_hopedit(), "serve", "--port", str(port), "--store", str(store)]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ready, deadline = None, time.monotonic() + timeout_s
    while ready is None and time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2.0).status_code == 200:
                ready = time.perf_counter() - started
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    process.terminate()
    returncode, rss = _wait_rusage(process, 30)
    return {
        "command": "serve ready",
        "seconds": ready,
        "peak_rss_mib": rss,
        "returncode": 0 if ready is not None else returncode,
        "argv": " ".join(command),
    }


def bench_commands(question: str, tmp: Path, data: Path) -> list[dict]:
    """Each command from a fresh process on a memory of the bench's edits (disk cache warmed first)."""
    store = tmp / "cold-store"
    loaded = run_command(
        "facts load", [*_hopedit(), "facts", "load", str(data), "--format", "mquake", "--store", str(store)]
    )
    if loaded["returncode"] != 0:
        raise RuntimeError(f"bench: `{loaded['argv']}` failed with exit code {loaded['returncode']}")
    ask = [*_hopedit(), "ask", question, "--store", str(store)]
    run_command("warm-up", ask)  # pages the model and libraries into the disk cache
    return [
        run_command("ask", ask),
        run_command(
            "chat first answer", [*_hopedit(), "chat", "--store", str(store)], f"{question}\n/quit\n"
        ),
        serve_ready(store),
    ]


# ------------------------------------------------------------------------------------------------- run


def _figures(result: dict) -> dict:
    """The numbers issue 16 tracks: the memory at its largest size, cold start, throughput ratios."""
    embedded = [row for row in result["memory_scaling"] if row["mode"] == "embedded"]
    largest = max(embedded, key=lambda row: row["facts"]) if embedded else {}
    opened = (
        largest["open_seconds"] + largest["first_retrieve_seconds"]
        if "first_retrieve_seconds" in largest
        else None
    )
    commands = {row["command"]: row for row in result["commands"]}
    methods = {row["method"]: row for row in result["methods"]}
    pipeline, mello = methods.get("instructed"), methods.get("mello")
    return {
        "max_facts": largest.get("facts"),
        "search_p95_ms": largest.get("search_p95_ms"),
        "retrieve_p50_ms": largest.get("retrieve_p50_ms"),
        "ingest_facts_per_second": largest.get("ingest_facts_per_second"),
        "open_seconds": largest.get("open_seconds"),
        "open_first_retrieve_seconds": opened,
        "facts_stats_seconds": largest.get("stats_command", {}).get("seconds"),
        "ask_on_largest_seconds": largest.get("ask_command", {}).get("seconds"),
        "cold_start_ask_seconds": commands.get("ask", {}).get("seconds"),
        "peak_rss_ask_mib": commands.get("ask", {}).get("peak_rss_mib"),
        "pipeline_vs_mello_batched": (
            pipeline["batched_qps"] / mello["batched_qps"] if pipeline and mello else None
        ),
        "pipeline_single_p50_seconds": pipeline["latency_p50"] if pipeline else None,
    }


def _limits(scales: list[int], rows: list[dict]) -> str:
    """Where the memory sizes stop, stated from this run's own ingest rate and memory growth."""
    if not rows or max(scales) >= 1_000_000:
        return ""
    rate = min((row["ingest_facts_per_second"] or 0.0) for row in rows if row["mode"] == "embedded") or 0.0
    estimate = f"about {1_000_000 / rate / 60:.0f} min of ingest at this run's slowest rate" if rate else ""
    return "; ".join(
        part
        for part in (f"1M facts not run (largest: {max(scales)})", estimate, _rss_at_a_million(rows))
        if part
    )


def _rss_at_a_million(rows: list[dict]) -> str:
    """The bench process's resident memory at 1M facts, extrapolated along its growth between the two
    largest embedded sizes (the graph mirror, Chroma's index and caches grow with the facts)."""
    sized = sorted(
        (row["facts"], row["rss_mib"]) for row in rows if row["mode"] == "embedded" and row.get("rss_mib")
    )
    if len(sized) < 2 or sized[-1][0] == sized[-2][0]:
        return ""
    (small, small_rss), (large, large_rss) = sized[-2], sized[-1]
    per_fact = max(0.0, (large_rss - small_rss) / (large - small))
    at_million = large_rss + per_fact * (1_000_000 - large)
    return f"about {at_million / 1024:.1f} GiB resident at 1M facts ({1024 * per_fact:.1f} KiB per fact)"


def run_bench(cfg: BenchConfig) -> dict:
    from evals.fingerprint import make_fingerprint
    from memory import Memory
    from memory.retrieval import RetrievalConfig

    cases = load_cases(cfg.data or DEFAULT_CASES)
    questions = _questions(cases, cfg.n_questions)
    result: dict[str, Any] = {
        # Taken before the run: the code, data, prefixes and retrieval settings the figures come from.
        "fingerprint": make_fingerprint(
            data=cfg.data or DEFAULT_CASES,
            command=cfg.command,
            options={
                "methods": cfg.methods,
                "n_questions": cfg.n_questions,
                "n_single": cfg.n_single,
                "scales": cfg.scales,
                "modes": cfg.modes,
                "cold_start": cfg.cold_start,
                "seed": cfg.seed,
                "answer_check": check.to_dict() if (check := cfg.resources.answer_check) else None,
                "prompt_lookup": cfg.resources.prompt_lookup.to_dict(),
            },
            retrieval_config=RetrievalConfig().to_dict(),
            model_spec=cfg.resources.model_spec,
            prefixes=cfg.resources.prefixes,
        ),
        "command": cfg.command,
        "data": str(cfg.data or DEFAULT_CASES.name),
        "machine": machine_info(),
        "matmul": matmul_rates(),
        "methods": [],
        "memory_scaling": [],
        "commands": [],
    }
    with tempfile.TemporaryDirectory(prefix="hopedit-bench-") as tmp_name:
        tmp = Path(tmp_name)
        batch_file = tmp / "cases.json"
        batch_file.write_text(json.dumps(cases), encoding="utf-8")
        if cfg.methods:
            with Memory.open(tmp / "store") as memory:
                t0 = time.perf_counter()
                loaded = memory.load_file(batch_file, format="mquake", kind="edit")
                result["edit_facts"] = len(loaded.added)
                result["edit_ingest_facts_per_second"] = len(loaded.added) / (time.perf_counter() - t0)
                for method in cfg.methods:
                    result["methods"].append(bench_method(cfg, method, memory, questions))
        fp32 = next((row["gflops"] for row in result["matmul"] if row["precision"] == "fp32"), None)
        for row in result["methods"]:
            achieved = row["achieved_gflops"]
            row["share_of_fp32_matmul"] = achieved / fp32 if achieved and fp32 else None
        for mode in cfg.modes if cfg.scales else []:
            if mode == "embedded":
                store_dir = tmp / "scale-embedded"
                result["memory_scaling"] += bench_memory(
                    cfg.scales,
                    cfg.seed,
                    mode,
                    lambda store_dir=store_dir: Memory.open(store_dir),
                    store_dir,
                    fresh_ask=cfg.cold_start,
                )
            else:
                with chroma_server(tmp / "scale-server") as url:
                    result["memory_scaling"] += bench_memory(
                        cfg.scales, cfg.seed, mode, lambda url=url: Memory.open(chroma_url=url), None
                    )
        if cfg.cold_start:
            result["commands"] = bench_commands(questions[0], tmp, batch_file)
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    result["latency_unit"] = "seconds per question"
    result["machine"]["load_average_end"] = list(os.getloadavg())
    result["figures"] = _figures(result)
    result["limits"] = _limits(cfg.scales, result["memory_scaling"])
    cfg.out.mkdir(parents=True, exist_ok=True)
    write_json(cfg.out / "bench.json", result)
    write_bench_report(result, cfg.out)
    return result


# ----------------------------------------------------------------------------------------------- report


def _num(value: Any, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def bench_markdown(result: dict) -> str:
    machine = result["machine"]
    rows = [
        "# hopedit bench",
        "",
        f"CPU: {machine['cpu_model']}, {machine['cpus']} CPUs, torch threads {machine['torch_threads']}; "
        f"features: {', '.join(machine['features']) or 'none reported'}",
        f"load average at start {machine['load_average_start']}, at end {machine.get('load_average_end')}",
        "",
        "| matmul precision | GFLOP/s |",
        "| --- | --- |",
        *(f"| {r['precision']} ({r['size']}^3) | {_num(r['gflops'])} |" for r in result["matmul"]),
        "",
        "## Figures",
        "",
        "| figure | value |",
        "| --- | --- |",
        *(
            f"| {key} | {_num(value, 2) if isinstance(value, float) else value} |"
            for key, value in result["figures"].items()
        ),
    ]
    if result.get("limits"):
        rows += ["", f"Limit: {result['limits']}"]
    rows += [
        "",
        "## Methods",
        "",
        "| method | batched q/s | single q/s | p50 s | p95 s | model calls/q | tokens/q | GFLOP/s "
        "| of fp32 matmul |",
        "|" + " --- |" * 9,
    ]
    for m in result["methods"]:
        share = m.get("share_of_fp32_matmul")
        rows.append(
            f"| {m['method']} | {m['batched_qps']:.2f} | {_num(m['single_qps'], 2)} "
            f"| {_num(m['latency_p50'], 2)} | {_num(m['latency_p95'], 2)} "
            f"| {m['model_calls_per_question']:.1f} | {m['tokens_per_question']:.0f} "
            f"| {_num(m['achieved_gflops'])} | {'–' if share is None else f'{100 * share:.0f}%'} |"
        )
    rows += [
        "",
        "## Memory scaling (synthetic facts with history)",
        "",
        "| mode | facts | ingest facts/s | search p50 ms | search p95 ms | retrieve p50 ms | retrieve p95 ms "
        "| close s | open s (from) | first retrieve s | `facts stats` s | `ask` s | RSS MiB |",
        "|" + " --- |" * 13,
    ]
    for r in result["memory_scaling"]:
        stats, ask = r.get("stats_command"), r.get("ask_command")
        rows.append(
            f"| {r['mode']} | {r['facts']} | {_num(r['ingest_facts_per_second'], 0)} "
            f"| {r['search_p50_ms']:.1f} | {r['search_p95_ms']:.1f} "
            f"| {r['retrieve_p50_ms']:.1f} | {r['retrieve_p95_ms']:.1f} | {_num(r.get('close_seconds'), 2)} "
            f"| {r['open_seconds']:.2f} ({r.get('opened_from', '?')}) "
            f"| {_num(r.get('first_retrieve_seconds'), 2)} "
            f"| {_num(stats['seconds'], 2) if stats else '–'} | {_num(ask['seconds'], 2) if ask else '–'} "
            f"| {r['rss_mib']:.0f} |"
        )
    rows += ["", "## Fresh processes", "", "| command | seconds | peak RSS MiB | exit |", "|" + " --- |" * 4]
    rows += [
        f"| {c['command']} | {_num(c['seconds'], 2)} | {_num(c['peak_rss_mib'], 0)} | {c['returncode']} |"
        for c in result["commands"]
    ]
    rows += [
        "",
        f"Bench process peak RSS: {result['peak_rss_mib']:.0f} MiB",
        "",
        f"Command: `{result['command']}`",
    ]
    return "\n".join(rows) + "\n"


def write_bench_report(result: dict, out: Path) -> None:
    """bench.md and bench.png: throughput per method, query latency and ingest rate per memory size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    (out / "bench.md").write_text(bench_markdown(result), encoding="utf-8")
    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(15, 4.2))
    names = [m["method"] for m in result["methods"]]
    xs = range(len(names))
    left.bar([x - 0.2 for x in xs], [m["batched_qps"] for m in result["methods"]], 0.4, label="batched")
    left.bar(
        [x + 0.2 for x in xs], [m["single_qps"] or 0 for m in result["methods"]], 0.4, label="one at a time"
    )
    left.set_xticks(list(xs), names)
    left.set_ylabel("questions / s")
    left.set_title("Throughput per method")
    if names:
        left.legend()
    for mode, style in (("embedded", "-"), ("server", "--")):
        rows = [r for r in result["memory_scaling"] if r["mode"] == mode]
        if not rows:
            continue
        facts = [r["facts"] for r in rows]
        for key, marker in (
            ("search_p50_ms", "o"),
            ("search_p95_ms", "^"),
            ("retrieve_p50_ms", "s"),
            ("retrieve_p95_ms", "v"),
        ):
            middle.plot(facts, [r[key] for r in rows], marker + style, label=f"{mode} {key[:-3]}")
        right.plot(facts, [r["ingest_facts_per_second"] or 0 for r in rows], "o" + style, label=mode)
    for axis, title, ylabel in ((middle, "Query latency", "ms"), (right, "Ingest rate", "facts / s")):
        axis.set_xscale("log")
        axis.set_xlabel("facts in memory")
        axis.set_ylabel(ylabel)
        axis.set_title(title)
        if axis.lines:
            axis.legend(fontsize=7)
    middle.set_yscale("log")
    fig.tight_layout()
    fig.savefig(out / "bench.png", dpi=110)
    plt.close(fig)


def print_bench(result: dict) -> None:
    from rich.console import Console
    from rich.markdown import Markdown

    Console().print(Markdown(bench_markdown(result)))

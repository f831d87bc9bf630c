"""Load test for `hopedit serve`: concurrent clients mixing questions and fact writes, loopback only.

    python -m evals.loadtest --url http://127.0.0.1:8000 --clients 16 --seconds 60 \\
        --label batched --out results/server/batched.json
    python -m evals.loadtest --report results/server/single.json results/server/batched.json ... \\
        --markdown results/server/loadtest.md --plot results/server/loadtest.png

Each client loops until the time is up (or the request cap is hit): with probability --write-ratio it
writes one new, unique fact, otherwise it asks a question. A fact counts as acknowledged only on a 200;
afterwards every acknowledged id must be listed by the server. Any non-200 answer or transport error is a
failure. Bounded in time and count, and refuses non-loopback URLs so it cannot be pointed at anyone else.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import platform
import random
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import httpx
from rich.console import Console
from rich.live import Live

QUESTIONS = (
    "What is the capital of France?",
    "Who wrote Romeo and Juliet?",
    "What is the largest planet in the solar system?",
    "In which country is the city of Kyoto?",
    "What language is spoken in Brazil?",
    "Who painted the Mona Lisa?",
    "What is the chemical symbol for gold?",
    "Which ocean lies between Europe and America?",
)
MAX_REQUESTS = 20_000  # hard cap whatever --seconds says


def require_loopback(url: str) -> None:
    host = urlparse(url).hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise SystemExit(f"refusing to load-test {url}: only loopback servers (127.0.0.1, ::1, localhost)")


@dataclass
class Tally:
    """Shared by all client threads; every mutation holds the lock."""

    question_latency: list[float] = field(default_factory=list)
    write_latency: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    acked_ids: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def requests(self) -> int:
        return len(self.question_latency) + len(self.write_latency) + len(self.failures)


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _summary(values: list[float]) -> dict[str, float | int | None]:
    return {
        "count": len(values),
        "p50_s": _percentile(values, 0.50),
        "p95_s": _percentile(values, 0.95),
        "mean_s": statistics.fmean(values) if values else None,
    }


class LoadTest:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key else {}
        self.headers = headers
        self.run_id = f"{int(time.time())}"

    def _question_body(self, rng: random.Random) -> dict:
        return {
            "model": self.args.model,
            "messages": [{"role": "user", "content": rng.choice(QUESTIONS)}],
            "max_tokens": self.args.max_tokens,
            "temperature": 0,
        }

    def _fact_body(self, client_index: int, n: int) -> dict:
        subject = f"Loadtown {self.run_id}-{client_index}-{n}"
        return {"subject": subject, "relation": "mayor", "object": f"Mayor {client_index}-{n}"}

    def _client(self, index: int, deadline: float, tally: Tally) -> None:
        rng = random.Random(self.args.seed * 1000 + index)
        with httpx.Client(base_url=self.args.url, headers=self.headers, timeout=self.args.timeout) as client:
            n = 0
            while time.monotonic() < deadline and tally.requests < self.args.max_requests:
                write = rng.random() < self.args.write_ratio
                path, body = (
                    ("/v1/facts", self._fact_body(index, n))
                    if write
                    else ("/v1/chat/completions", self._question_body(rng))
                )
                n += 1
                start = time.perf_counter()
                try:
                    response = client.post(path, json=body)
                except httpx.HTTPError as error:
                    with tally.lock:
                        tally.failures.append(f"{path}: {type(error).__name__}: {error}")
                    continue
                elapsed = time.perf_counter() - start
                with tally.lock:
                    if response.status_code != 200:
                        tally.failures.append(f"{path}: HTTP {response.status_code}: {response.text[:200]}")
                    elif write:
                        tally.write_latency.append(elapsed)
                        tally.acked_ids.extend(fact["id"] for fact in response.json()["added"])
                    else:
                        tally.question_latency.append(elapsed)

    def single_request_latency(self, n: int) -> list[float]:
        """One question at a time on an otherwise idle server: the latency floor."""
        rng = random.Random(self.args.seed)
        latencies = []
        with httpx.Client(base_url=self.args.url, headers=self.headers, timeout=self.args.timeout) as client:
            for _ in range(n):
                start = time.perf_counter()
                client.post("/v1/chat/completions", json=self._question_body(rng)).raise_for_status()
                latencies.append(time.perf_counter() - start)
        return latencies

    def run(self, console: Console) -> dict:
        args = self.args
        with httpx.Client(base_url=args.url, headers=self.headers, timeout=30) as client:
            health_before = client.get("/health").json()
        single = self.single_request_latency(args.single_requests)
        tally = Tally()
        load_before = os.getloadavg()
        started = time.monotonic()
        deadline = started + args.seconds
        threads = [
            threading.Thread(target=self._client, args=(i, deadline, tally), daemon=True)
            for i in range(args.clients)
        ]
        for thread in threads:
            thread.start()
        with Live(console=console, refresh_per_second=2, transient=True) as live:
            while any(thread.is_alive() for thread in threads):
                with tally.lock:
                    live.update(
                        f"[bold]{args.label}[/]: {time.monotonic() - started:5.1f}/{args.seconds}s  "
                        f"questions {len(tally.question_latency)}  writes {len(tally.write_latency)}  "
                        f"failures {len(tally.failures)}"
                    )
                time.sleep(0.5)
        for thread in threads:
            thread.join()
        wall = time.monotonic() - started
        with httpx.Client(base_url=args.url, headers=self.headers, timeout=120) as client:
            listed = client.get("/v1/facts", params={"k": 100_000}).json()["data"]
            health_after = client.get("/health").json()
        present = {fact["id"] for fact in listed}
        lost = sorted(set(tally.acked_ids) - present)
        ok = len(tally.question_latency) + len(tally.write_latency)
        return {
            "label": args.label,
            "url": args.url,
            "command": " ".join(sys.argv),
            "model": args.model,
            "clients": args.clients,
            "seconds": args.seconds,
            "wall_s": wall,
            "write_ratio": args.write_ratio,
            "max_tokens": args.max_tokens,
            "server": {"before": health_before, "after": health_after},
            "single_request": _summary(single),
            "questions": _summary(tally.question_latency),
            "writes": _summary(tally.write_latency),
            "requests_ok": ok,
            "failures": len(tally.failures),
            "failure_examples": tally.failures[:10],
            "throughput_rps": ok / wall,
            "question_throughput_qps": len(tally.question_latency) / wall,
            "acked_facts": len(tally.acked_ids),
            "lost_facts": len(lost),
            "lost_examples": lost[:10],
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
            "host": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "note": "CPU shared with other work (a training run and other engineers' jobs)",
            },
        }


def _fmt(value: float | None, scale: float = 1000.0, digits: int = 0) -> str:
    return "-" if value is None else f"{value * scale:.{digits}f}"


def markdown(results: list[dict]) -> str:
    lines = [
        "| run | server batching | clients | questions | writes | failures | lost facts | "
        "single-request p50 (ms) | question p50 (ms) | question p95 (ms) | write p50 (ms) | write p95 (ms) | "
        "throughput (req/s) | questions/s | mean batch |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        generate = r["server"]["after"].get("batches", {}).get("generate", {})
        lines.append(
            f"| {r['label']} | max_batch={r.get('max_batch', '?')} | {r['clients']} | "
            f"{r['questions']['count']} | {r['writes']['count']} | {r['failures']} | "
            f"{r['lost_facts']} of {r['acked_facts']} | {_fmt(r['single_request']['p50_s'])} | "
            f"{_fmt(r['questions']['p50_s'])} | {_fmt(r['questions']['p95_s'])} | "
            f"{_fmt(r['writes']['p50_s'])} | {_fmt(r['writes']['p95_s'])} | "
            f"{r['throughput_rps']:.2f} | {r['question_throughput_qps']:.2f} | "
            f"{generate.get('mean_batch_size', 0):.2f} |"
        )
    return "\n".join(lines) + "\n"


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [r["label"] for r in results]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.bar(labels, [r["question_throughput_qps"] for r in results], color="tab:blue")
    left.set_ylabel("questions per second")
    left.set_title("Question throughput")
    x = range(len(results))
    left_edge = [i - 0.2 for i in x]
    right.bar(left_edge, [r["questions"]["p50_s"] or 0 for r in results], width=0.4, label="p50")
    right.bar([i + 0.2 for i in x], [r["questions"]["p95_s"] or 0 for r in results], width=0.4, label="p95")
    right.set_xticks(list(x), labels)
    right.set_ylabel("seconds")
    right.set_title("Question latency")
    right.legend()
    fig.suptitle("hopedit serve load test (2 shared CPU cores, loopback)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--max-requests", type=int, default=MAX_REQUESTS)
    parser.add_argument("--write-ratio", type=float, default=0.3)
    parser.add_argument("--model", default="smollm2-135m-instruct", help="served model the questions go to")
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--single-requests", type=int, default=8, help="sequential questions before the load")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--api-key")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--label", default="run")
    parser.add_argument("--max-batch", type=int, help="the server's --max-batch, recorded in the results")
    parser.add_argument("--out", type=Path, help="write the results JSON here")
    parser.add_argument("--report", nargs="+", type=Path, help="only tabulate these results JSON files")
    parser.add_argument("--markdown", type=Path, help="with --report: write the table here")
    parser.add_argument("--plot", type=Path, help="with --report: write a PNG here")
    args = parser.parse_args(argv)
    if args.clients < 1 or args.seconds <= 0 or not 0 <= args.write_ratio <= 1:
        parser.error("--clients >= 1, --seconds > 0 and 0 <= --write-ratio <= 1")
    args.max_requests = min(args.max_requests, MAX_REQUESTS)
    args.seconds = min(args.seconds, 600.0)
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    console = Console()
    if args.report:
        results = [json.loads(path.read_text()) for path in args.report]
        table = markdown(results)
        console.print(table)
        if args.markdown:
            args.markdown.write_text(table)
        if args.plot:
            plot(results, args.plot)
        return 0
    require_loopback(args.url)
    result = LoadTest(args).run(console)
    result["max_batch"] = args.max_batch
    console.print(markdown([result]))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))
    return 0 if result["failures"] == 0 and result["lost_facts"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())

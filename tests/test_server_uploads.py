"""The server's memory under load and crashes (issue 15): upload limits and jobs in process, then the real
`hopedit serve` on loopback beside a CLI writer, under a large upload, and SIGKILLed while superseding.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from helpers_server import BASE_MODEL, running_server, start_server, stop

from agent.server.app import create_app
from agent.server.config import ServerConfig
from agent.server.facts_serving import FactsServing
from agent.server.metrics import ServerMetrics
from memory import Memory

HOPEDIT = Path(sys.executable).parent / "hopedit"
QUESTION = "Tobias Renn citizen of Japan, capital Osaka"


def jsonl(rows: list[tuple[str, str, str]]) -> bytes:
    keys = ("subject", "relation", "object")
    return "".join(json.dumps(dict(zip(keys, row, strict=True))) + "\n" for row in rows).encode()


class FactsOnlyEngine:
    """The real facts logic and app, without the model: what the facts routes need of the engine."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.facts = FactsServing(config)
        self.metrics = ServerMetrics(lambda: {})

    def start(self) -> None:
        self.facts.open()

    def close(self) -> None:
        self.facts.close()


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    config = ServerConfig(store=tmp_path / "store", max_body_bytes=4096, max_facts_per_request=3)
    with TestClient(create_app(config, FactsOnlyEngine(config))) as test_client:  # type: ignore[arg-type]
        yield test_client


def test_upload_limits_are_uniform(client: TestClient) -> None:
    four = jsonl([(f"City {i}", "mayor", f"Mayor {i}") for i in range(4)])
    over = client.post("/v1/facts:load", params={"filename": "four.jsonl"}, content=four)
    assert over.status_code == 413, over.text
    assert over.json()["error"]["message"] == "4 facts in one request; this server takes at most 3"
    facts = [{"subject": f"City {i}", "relation": "mayor", "object": "M"} for i in range(4)]
    assert client.post("/v1/facts", json={"facts": facts}).status_code == 413
    big = b"x" * 5000
    sized = client.post("/v1/facts:load", params={"filename": "a.jsonl"}, content=big)
    chunked = client.post(
        "/v1/facts:load", params={"filename": "a.jsonl"}, content=iter([big[:2500], big[2500:]])
    )
    for response in (sized, chunked):
        assert response.status_code == 413, response.text
        assert response.json()["error"]["code"] == "request_too_large"
    assert client.get("/v1/facts", params={"k": 10}).json()["data"] == []


@pytest.mark.parametrize(
    ("filename", "problem"),
    [
        ("../../etc/passwd", "contains a path separator"),
        ("..", "is only dots"),
        ("a\x00b.jsonl", "contains a control character"),
        ("x" * 300 + ".jsonl", "is longer than 255 characters"),
        ("dir\\f.jsonl", "contains a path separator"),
    ],
)
def test_malformed_upload_names_get_400_without_a_server_path(
    client: TestClient, filename: str, problem: str
) -> None:
    body = jsonl([("A", "r", "B")])
    response = client.post("/v1/facts:load", params={"filename": filename}, content=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["message"] == f"filename {problem}: give a plain file name like facts.jsonl"
    assert error["param"] == "filename"


def test_unreadable_upload_names_no_server_path(client: TestClient) -> None:
    response = client.post("/v1/facts:load", params={"filename": "f.jsonl"}, content=b"\xff\xfe\x00 junk\n")
    assert response.status_code == 400, response.text
    message = response.json()["error"]["message"]
    assert message.startswith("f.jsonl")
    assert "hopedit-upload" not in message and "/tmp" not in message


def test_upload_is_a_job_with_progress_and_result(client: TestClient) -> None:
    body = jsonl([("Tobias Renn", "country of citizenship", "Japan"), ("Japan", "capital", "Osaka")])
    started = client.post("/v1/facts:load", params={"filename": "edits.jsonl"}, content=body)
    assert started.status_code == 202, started.text
    job = started.json()
    assert (job["object"], job["filename"], job["facts"]) == ("facts.load", "edits.jsonl", 2)
    deadline = time.monotonic() + 60
    while job["status"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.1)
        job = client.get(f"/v1/facts:load/{job['id']}").json()
    assert job["status"] == "done", job
    assert (job["stage"], job["done"], job["total"]) == ("activating", 2, 2)
    assert sorted(fact["object"] for fact in job["result"]["added"]) == ["Japan", "Osaka"]
    waited = client.post(
        "/v1/facts:load",
        params={"filename": "again.jsonl", "wait": "true"},
        content=jsonl([("Japan", "capital", "Kyoto")]),
    )
    assert waited.status_code == 200 and waited.json()["status"] == "done"
    assert [fact["object"] for fact in waited.json()["result"]["superseded"]] == ["Osaka"]
    missing = client.get("/v1/facts:load/load-nope")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "job_not_found"


# ------------------------------------------------------------------ the real server


@pytest.mark.slow
@pytest.mark.server
def test_cli_writer_beside_a_running_server_is_refused_and_the_server_keeps_answering(tmp_path: Path) -> None:
    store = tmp_path / "store"
    with running_server(store) as server, server.client() as client:
        assert (
            client.post(
                "/v1/facts",
                json={"subject": "Tobias Renn", "relation": "country of citizenship", "object": "Japan"},
            ).status_code
            == 200
        )
        refused = subprocess.run(
            [str(HOPEDIT), "facts", "add", "Japan", "capital", "Osaka", "--store", str(store)],
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert (
            f"memory {store} is in use by `hopedit serve` (pid {server.process.pid}); "
            "use --chroma-url, or the server's facts API"
        ) in " ".join(refused.stderr.split())
        asked = subprocess.run(
            [str(HOPEDIT), "ask", "Who is Tobias Renn?", "--store", str(store)],
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert asked.returncode == 2, asked.stdout + asked.stderr
        assert f"is in use by `hopedit serve` (pid {server.process.pid})" in " ".join(asked.stdout.split())
        chunks = (b"x" * (1 << 20) for _ in range(5))  # over the default 4 MiB, without a Content-Length
        chunked = client.post("/v1/facts:load", params={"filename": "big.jsonl"}, content=chunks)
        assert chunked.status_code == 413 and chunked.json()["error"]["code"] == "request_too_large"
        search = client.get("/v1/facts", params={"query": "Tobias Renn citizen", "k": 5})
        assert search.status_code == 200 and [f["object"] for f in search.json()["data"]] == ["Japan"]
        assert (
            client.get("/v1/facts:history", params={"subject": "Japan", "relation": "capital"}).json()["data"]
            == []
        )


def _overwrite_until_stopped(
    url: str, worker: int, keys: int, halt: threading.Event, acked: list[tuple[str, str]]
) -> None:
    with httpx.Client(base_url=url, timeout=30) as client:
        n = 0
        while not halt.is_set():
            subject = f"Town {(worker * 7 + n) % keys}"
            fact = {"subject": subject, "relation": "mayor", "object": f"Mayor {worker}-{n}"}
            try:
                response = client.post("/v1/facts", json=fact)
            except httpx.HTTPError:
                return
            if response.status_code == 200:
                acked.append((subject, fact["object"]))
            n += 1


@pytest.mark.slow
@pytest.mark.server
def test_sigkill_during_superseding_server_writes_leaves_one_active_version_per_key(tmp_path: Path) -> None:
    store, keys = tmp_path / "store", 30
    server = start_server(store)
    acked: list[tuple[str, str]] = []
    halt = threading.Event()
    writers = [
        threading.Thread(target=_overwrite_until_stopped, args=(server.url, w, keys, halt, acked))
        for w in range(4)
    ]
    try:
        for thread in writers:
            thread.start()
        deadline = time.monotonic() + 120
        while len(acked) < 2 * keys and time.monotonic() < deadline:
            time.sleep(0.05)
        server.kill()  # while the writers are still superseding
    finally:
        halt.set()
        for thread in writers:
            thread.join(timeout=30)
        stop(server)
    assert len(acked) >= 2 * keys, server.logs()[-2000:]
    with Memory.open(store) as memory:
        active = Counter((f.subject, f.relation) for f in memory.facts())
        assert set(active.values()) == {1}
        assert {subject for subject, _ in acked} <= {subject for subject, _ in active}
        stored = Counter((r.fact.subject, r.fact.relation) for r in memory.store.scan() if r.fact.active)
        assert stored == active  # Chroma's active filter agrees with the graph
        objects = {f.object for f in memory.facts(active_only=False)}
        assert {obj for _, obj in acked} <= objects  # every acknowledged write survived


@pytest.mark.slow
@pytest.mark.ci
@pytest.mark.server
def test_large_upload_keeps_health_and_questions_responsive(tmp_path: Path) -> None:
    store, n = tmp_path / "store", 3000
    with running_server(store, "--max-facts-per-request", str(n)) as server, server.client() as client:
        client.post("/v1/facts", json={"facts": [
            {"subject": "Tobias Renn", "relation": "country of citizenship", "object": "Japan"},
            {"subject": "Japan", "relation": "capital", "object": "Osaka"},
        ]}).raise_for_status()  # fmt: skip
        baseline = []  # what /health costs on this machine right now, before the upload
        for _ in range(10):
            began = time.monotonic()
            assert httpx.get(f"{server.url}/health", timeout=10).status_code == 200
            baseline.append(time.monotonic() - began)
            time.sleep(0.1)
        body = jsonl([(f"Person {i}", "employer", f"Firm {i % 97}") for i in range(n)])
        started = client.post("/v1/facts:load", params={"filename": "big.jsonl"}, content=body)
        assert started.status_code == 202, started.text
        job_id = started.json()["id"]
        health_s: list[float] = []
        answer: dict = {}

        def ask() -> None:
            """A question to the base model and a fact search, both while the upload is being written."""
            question = {
                "model": BASE_MODEL,
                "messages": [{"role": "user", "content": "Name a color."}],
                "max_tokens": 8,
            }
            began = time.monotonic()
            response = httpx.post(f"{server.v1}/chat/completions", json=question, timeout=300)
            search = httpx.get(f"{server.v1}/facts", params={"query": QUESTION, "k": 2}, timeout=60)
            answer.update(
                status=response.status_code,
                seconds=time.monotonic() - began,
                found=[f["object"] for f in search.json()["data"]],
                job=client.get(f"/v1/facts:load/{job_id}").json()["status"],
            )

        asker = threading.Thread(target=ask)
        asker.start()
        job = started.json()
        deadline = time.monotonic() + 240
        while job["status"] in ("queued", "running") and time.monotonic() < deadline:
            began = time.monotonic()
            assert httpx.get(f"{server.url}/health", timeout=10).status_code == 200
            health_s.append(time.monotonic() - began)
            job = client.get(f"/v1/facts:load/{job_id}").json()
            time.sleep(0.1)
        asker.join(timeout=300)
        assert job["status"] == "done", job
        assert len(job["result"]["added"]) == n
        assert len(health_s) >= 5, "the upload finished too fast to measure anything"
        # Under 1 s on a quiet machine. On a CPU shared with other jobs, the upload's own CPU work slows some
        # probes, so 9 in 10 must stay within 1 s of the slowest probe before the upload. A /health that
        # waited on the write would wait for all of it: a few probes of many seconds each.
        limit = 1.0 + max(baseline)
        slow = [seconds for seconds in health_s if seconds >= limit]
        assert len(slow) <= len(health_s) // 10, (f"limit {limit:.2f}s", sorted(health_s)[-5:])
        assert answer["status"] == 200 and answer["job"] == "running", answer
        assert sorted(answer["found"]) == ["Japan", "Osaka"]
        assert client.get("/health").json()["memory"]["active"] == n + 2

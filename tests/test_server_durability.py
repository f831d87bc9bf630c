"""Overload and crash behaviour: a full queue answers 429, and SIGKILL loses no acknowledged fact."""

from __future__ import annotations

import concurrent.futures
import threading
import time

import httpx
import pytest
from helpers_server import BASE_MODEL, running_server, start_server, stop

pytestmark = pytest.mark.server


def _write_until_stopped(url: str, worker: int, acked: list[str], halt: threading.Event) -> None:
    """Write unique facts one by one; record an id only when the server acknowledged it."""
    with httpx.Client(base_url=url, timeout=30) as client:
        n = 0
        while not halt.is_set():
            fact = {"subject": f"Crashland {worker}-{n}", "relation": "mayor", "object": f"Mayor {n}"}
            try:
                response = client.post("/v1/facts", json=fact)
            except httpx.HTTPError:
                return  # the server died mid-request: this write was never acknowledged
            if response.status_code == 200:
                acked.extend(f["id"] for f in response.json()["added"])
            n += 1


def test_sigkill_during_writes_loses_no_acknowledged_fact(tmp_path) -> None:
    store = tmp_path / "store"
    server = start_server(store)
    acked: list[str] = []
    halt = threading.Event()
    writers = [
        threading.Thread(target=_write_until_stopped, args=(server.url, w, acked, halt)) for w in range(4)
    ]
    try:
        for thread in writers:
            thread.start()
        deadline = time.monotonic() + 60
        while len(acked) < 40 and time.monotonic() < deadline:
            time.sleep(0.05)
        server.kill()  # while the writers are still sending
    finally:
        halt.set()
        for thread in writers:
            thread.join(timeout=30)
        stop(server)
    assert len(acked) >= 40, server.logs()[-2000:]

    with running_server(store) as restarted, restarted.client() as client:
        present = {f["id"] for f in client.get("/v1/facts", params={"k": 1000}).json()["data"]}
    missing = set(acked) - present
    assert not missing, f"{len(missing)} of {len(acked)} acknowledged facts lost"


@pytest.mark.slow
def test_full_queue_answers_429_and_admitted_requests_succeed(tmp_path) -> None:
    with running_server(tmp_path / "store", "--max-queue", "2", "--max-batch", "1") as server:

        def ask(i: int) -> httpx.Response:
            body = {"model": BASE_MODEL, "prompt": f"Tell a story about the number {i}.", "max_tokens": 24}
            return httpx.post(f"{server.v1}/completions", json=body, timeout=120)

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            responses = list(pool.map(ask, range(8)))
    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) == {200, 429}, statuses
    assert statuses.count(200) >= 2
    for response in responses:
        if response.status_code == 429:
            assert response.json()["error"]["code"] == "queue_full"
        else:
            assert response.json()["choices"][0]["finish_reason"] in ("stop", "length")

"""The QA pipelines behind the server, and hopedit's agents using the server as their LLM (`--llm-url`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import openai
import pytest
from helpers_server import BASE_MODEL, RunningServer, running_server

pytestmark = [pytest.mark.server, pytest.mark.slow]

FACT = {
    "subject": "Zorbania",
    "relation": "capital",
    "object": "Quillport",
    "sentence": "The capital of Zorbania is Quillport.",
}
QUESTION = "What is the capital of Zorbania?"


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> RunningServer:
    store = tmp_path_factory.mktemp("serve-agents") / "store"
    with running_server(store) as running:
        assert httpx.post(f"{running.v1}/facts", json=FACT).status_code == 200
        yield running


def _chat_requests(server: RunningServer) -> float:
    total = 0.0
    for line in httpx.get(f"{server.url}/metrics").text.splitlines():
        if (
            line.startswith('hopedit_requests_total{endpoint="/v1/chat/completions"')
            and 'status="200"' in line
        ):
            total += float(line.rsplit(" ", 1)[1])
    return total


@pytest.mark.ci
def test_mello_agent_through_llm_url_matches_the_in_process_model(server: RunningServer, tmp_path) -> None:
    from agent.factory import build_agent, build_llm
    from memory import Memory
    from memory.facts import Fact

    memory = Memory.open(tmp_path / "client-memory")
    memory.add([Fact(**FACT)])
    before = _chat_requests(server)
    served = build_agent("mello", memory=memory, chat_model=build_llm(server.v1, BASE_MODEL, None))
    answer = served.answer(QUESTION)
    assert FACT["sentence"] in [step.text for step in answer.steps if step.kind == "retrieve"]
    assert _chat_requests(server) - before >= answer.model_calls >= 1  # every model call went to the server

    # Greedy decoding on the same prompts: the served path must reproduce the in-process agent exactly.
    local = build_agent("mello", memory=memory, chat_model=build_llm(None, None, None)).answer(QUESTION)
    assert [(s.kind, s.text) for s in local.steps] == [(s.kind, s.text) for s in answer.steps]
    assert local.text == answer.text


@pytest.mark.ci
def test_mquake_eval_drives_a_decomposition_agent_through_the_server(server: RunningServer, tmp_path) -> None:
    """`hopedit eval mquake --llm-url --concurrency`: cases in flight at once, every model call served,
    and per-case seconds that add up to the run's wall time rather than to the overlapping latencies."""
    data = Path(__file__).parent / "fixtures" / "evals" / "mquake_tiny.json"
    out = tmp_path / "mello"
    before = _chat_requests(server)
    command = [
        str(Path(sys.executable).parent / "hopedit"), "eval", "mquake", "--data", str(data),
        "--method", "mello", "--edits", "all", "--limit", "2", "--seed", "0", "--no-hops",
        "--llm-url", server.v1, "--llm-model", BASE_MODEL, "--concurrency", "2", "--out", str(out),
    ]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True, timeout=900)
    summary = json.loads((out / "summary.json").read_text())
    records = [json.loads(line) for line in (out / "cases.jsonl").read_text().splitlines()]
    assert summary["llm_url"] == server.v1 and summary["n_cases"] == len(records) == 2
    calls = sum(r["model_calls"] for r in records)
    assert calls >= 6 and _chat_requests(server) - before >= calls
    assert all(r["trace"] and r["latency_seconds"] > 0 for r in records)
    assert summary["seconds"] == pytest.approx(sum(r["seconds"] for r in records))
    assert summary["seconds"] <= summary["wall_seconds"] < sum(r["latency_seconds"] for r in records)
    assert summary["questions_per_second"] == pytest.approx(6 / summary["seconds"])


def test_mello_pipeline_model_returns_its_trace(server: RunningServer) -> None:
    client = openai.OpenAI(base_url=server.v1, api_key="unused", max_retries=0, timeout=300)
    reply = client.chat.completions.create(
        model="hopedit-mello", messages=[{"role": "user", "content": QUESTION}]
    )
    trace = reply.model_extra["hopedit"]
    assert reply.choices[0].message.content == trace["steps"][-1]["text"]
    assert trace["model_calls"] >= 1
    assert any(step["kind"] == "retrieve" for step in trace["steps"])


def test_instructed_pipeline_answers_from_memory(server: RunningServer) -> None:
    body = {
        "model": "hopedit-instructed",
        "messages": [{"role": "user", "content": QUESTION}],
        "stream": True,
    }
    with httpx.stream("POST", f"{server.v1}/chat/completions", json=body, timeout=300) as response:
        assert response.status_code == 200
        events = [line[len("data: ") :] for line in response.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [httpx.Response(200, content=event).json() for event in events[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    trace = next(c["hopedit"] for c in chunks if c.get("hopedit"))
    assert FACT["sentence"] in [fact["sentence"] for fact in trace["facts"]]
    assert "Quillport" in text

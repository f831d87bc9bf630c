"""The server honours what it accepts, or rejects it: streaming from the decoding loop, max_tokens,
stop and temperature on the pipelines, usage that counts what the model read and wrote, earlier turns
rejected, disconnected clients' work cancelled, 429 with Retry-After.

One real server (real model, real store) serves most of the module; the 429 test starts its own with a
queue of one.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from helpers_server import BASE_MODEL, RunningServer, running_server

pytestmark = [pytest.mark.server, pytest.mark.slow]

MOTTO = "Seven rivers carry the salt of the northern hills down to the harbour of the old kings"
FACTS = [
    {
        "subject": "Zorbania",
        "relation": "capital",
        "object": "Quillport",
        "sentence": "The capital of Zorbania is Quillport.",
    },
    {
        "subject": "Zorbania",
        "relation": "motto",
        "object": MOTTO,
        "sentence": f"The motto of Zorbania is: {MOTTO}.",
    },
]
QUESTION = "What is the capital of Zorbania?"
MOTTO_QUESTION = "What is the motto of Zorbania?"
COUNTING = "1, 2, 3, 4, 5, 6, 7, 8, 9, 10,"  # the base model keeps counting: a long generation


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[RunningServer]:
    store = tmp_path_factory.mktemp("serve-generation") / "store"
    with running_server(store) as running:
        assert httpx.post(f"{running.v1}/facts", json={"facts": FACTS}).status_code == 200
        # Warm the pipeline (the editor loads on its first request), so timings below are steady state.
        _chat(running, "hopedit-instructed", QUESTION)
        yield running


def _chat(server: RunningServer, model: str, content: str | list[dict], **options) -> httpx.Response:
    messages = [{"role": "user", "content": content}] if isinstance(content, str) else content
    body = {"model": model, "messages": messages, **options}
    return httpx.post(f"{server.v1}/chat/completions", json=body, timeout=600)


def _metric(server: RunningServer, prefix: str) -> float:
    lines = httpx.get(f"{server.url}/metrics").text.splitlines()
    return sum(float(line.rsplit(" ", 1)[1]) for line in lines if line.startswith(prefix))


def _stream(server: RunningServer, body: dict) -> tuple[list[dict], list[float]]:
    """The chunks of a streamed chat completion, and the seconds at which each chunk with content came."""
    chunks, arrivals = [], []
    started = time.perf_counter()
    with httpx.stream(
        "POST", f"{server.v1}/chat/completions", json={**body, "stream": True}, timeout=600
    ) as r:
        assert r.status_code == 200, r.read()
        for line in r.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[len("data: ") :])
            if chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
                arrivals.append(time.perf_counter() - started)
            chunks.append(chunk)
    assert arrivals, "no content arrived"
    return chunks, arrivals


def _streamed_text(chunks: list[dict]) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


@pytest.mark.ci
@pytest.mark.parametrize(
    ("model", "content", "max_tokens"),
    [
        (BASE_MODEL, f"Continue the list: {COUNTING}", 64),
        # The edited model copies the motto from its instruction: a long answer read from the memory.
        ("hopedit-instructed", MOTTO_QUESTION, 64),
    ],
)
def test_stream_sends_tokens_as_they_are_generated(
    server: RunningServer, model: str, content: str, max_tokens: int
) -> None:
    body = {"model": model, "messages": [{"role": "user", "content": content}], "max_tokens": max_tokens}
    chunks, arrivals = _stream(server, body)
    text = _streamed_text(chunks)
    whole = _chat(server, model, content, max_tokens=max_tokens).json()
    assert text == whole["choices"][0]["message"]["content"]  # deltas add up to the unstreamed text
    assert len(arrivals) > 3
    # Streamed, the first tokens leave while later ones are still being computed: content arrives in
    # bursts at least one forward pass apart (a pass reads all 540 MB of weights: over 10 ms on a
    # CPU). Sent only at the end, every chunk would arrive within a few milliseconds of the last. (With
    # prompt lookup, one pass can write several tokens, so the bursts are per pass, not per token.)
    pause = max(later - earlier for earlier, later in itertools.pairwise(arrivals))
    assert pause > 0.01, f"content arrived within {arrivals[-1] - arrivals[0]:.4f} s: not streamed"
    if model != BASE_MODEL:
        assert "seven rivers" in text.lower()


@pytest.mark.ci
def test_max_tokens_on_the_instructed_pipeline(server: RunningServer) -> None:
    reply = _chat(server, "hopedit-instructed", MOTTO_QUESTION, max_tokens=2).json()
    assert reply["usage"]["completion_tokens"] <= 2
    assert reply["choices"][0]["finish_reason"] == "length"
    longer = _chat(server, "hopedit-instructed", MOTTO_QUESTION, max_tokens=12).json()
    assert longer["usage"]["completion_tokens"] > 2
    assert longer["choices"][0]["message"]["content"].startswith(reply["choices"][0]["message"]["content"])


def test_stop_on_the_instructed_pipeline(server: RunningServer) -> None:
    plain = _chat(server, "hopedit-instructed", MOTTO_QUESTION, max_tokens=16).json()
    text = plain["choices"][0]["message"]["content"]
    assert text.lower().startswith("seven rivers carry")
    stopped = _chat(server, "hopedit-instructed", MOTTO_QUESTION, max_tokens=16, stop=[" carry"]).json()
    assert stopped["choices"][0]["message"]["content"] == text[: text.index(" carry")]
    assert stopped["choices"][0]["finish_reason"] == "stop"
    assert stopped["usage"]["completion_tokens"] < plain["usage"]["completion_tokens"]  # it stopped there


def test_temperature_on_the_instructed_pipeline(server: RunningServer) -> None:
    def content(**options) -> str:
        reply = _chat(server, "hopedit-instructed", MOTTO_QUESTION, max_tokens=8, **options).json()
        return reply["choices"][0]["message"]["content"]

    assert len({content() for _ in "ab"}) == 1
    sampled = {content(temperature=2.0) for _ in range(4)}
    assert len(sampled) > 1, "temperature 2 sampled the same text four times: it was ignored"


def test_usage_counts_the_facts_the_model_read(server: RunningServer) -> None:
    from editor.loading import load_base_model

    reply = _chat(server, "hopedit-instructed", MOTTO_QUESTION).json()
    tokenizer = load_base_model().tokenizer
    question = len(tokenizer(MOTTO_QUESTION, add_special_tokens=False)["input_ids"])
    fact = len(tokenizer(FACTS[1]["sentence"], add_special_tokens=False)["input_ids"])
    assert FACTS[1]["sentence"] in [f["sentence"] for f in reply["hopedit"]["facts"]]
    assert reply["usage"]["prompt_tokens"] >= question + fact
    answer = len(tokenizer(reply["choices"][0]["message"]["content"], add_special_tokens=False)["input_ids"])
    assert reply["usage"]["completion_tokens"] >= answer > 0
    usage = reply["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_usage_of_a_decomposition_pipeline_adds_up_its_model_calls(server: RunningServer) -> None:
    reply = _chat(server, "hopedit-mello", QUESTION).json()
    calls = reply["hopedit"]["model_calls"]
    assert calls >= 1
    # Every MeLLo call reads the system prompt and its demonstrations: hundreds of tokens per call.
    assert reply["usage"]["prompt_tokens"] > 200 * calls
    assert reply["usage"]["completion_tokens"] >= calls


@pytest.mark.parametrize(
    ("options", "param"),
    [({"max_tokens": 5}, "max_tokens"), ({"stop": ["x"]}, "stop"), ({"temperature": 0.7}, "temperature")],
)
def test_decomposition_pipelines_reject_options_they_cannot_honour(
    server: RunningServer, options: dict, param: str
) -> None:
    for model in ("hopedit-mello", "hopedit-pokemqa"):
        reply = _chat(server, model, QUESTION, **options)
        assert reply.status_code == 400, reply.text
        error = reply.json()["error"]
        assert error["param"] == param and param in error["message"]


def test_earlier_turns_are_rejected_by_the_pipelines(server: RunningServer) -> None:
    turns = [
        {"role": "user", "content": QUESTION},
        {"role": "assistant", "content": "Quillport"},
        {"role": "user", "content": "And what is its motto?"},
    ]
    for model in ("hopedit-instructed", "hopedit-mello"):
        reply = _chat(server, model, turns)
        assert reply.status_code == 400, reply.text
        error = reply.json()["error"]
        assert error["param"] == "messages" and "exactly one user message" in error["message"]
    system = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": QUESTION}]
    assert _chat(server, "hopedit-instructed", system).status_code == 400
    assert _chat(server, BASE_MODEL, turns, max_tokens=4).status_code == 200  # the base model reads them all


def _hang_up(server: RunningServer, stream: bool, after_s: float) -> None:
    """A 300-token request whose client leaves after `after_s` seconds."""
    body = {"model": BASE_MODEL, "prompt": COUNTING, "max_tokens": 300, "stream": stream}
    started = time.monotonic()
    try:
        with httpx.stream("POST", f"{server.v1}/completions", json=body, timeout=after_s) as response:
            for _ in response.iter_lines():
                if time.monotonic() - started > after_s:
                    return  # leaving the block closes the connection mid-stream
    except httpx.TimeoutException:
        return


def test_work_of_disconnected_clients_is_cancelled(server: RunningServer) -> None:
    written = f'hopedit_tokens_total{{kind="completion",model="{BASE_MODEL}"}}'
    before_tokens = _metric(server, written)
    before_cancelled = _metric(server, "hopedit_cancelled_requests_total")
    clients = [threading.Thread(target=_hang_up, args=(server, i == 0, 1.5)) for i in range(3)]
    for client in clients:
        client.start()
    for client in clients:
        client.join()
    started = time.perf_counter()
    reply = httpx.post(
        f"{server.v1}/completions",
        json={"model": BASE_MODEL, "prompt": "Hello", "max_tokens": 4},
        timeout=600,
    )
    waited = time.perf_counter() - started
    assert reply.status_code == 200 and reply.json()["usage"]["completion_tokens"] <= 4
    deadline = time.monotonic() + 30
    while (
        _metric(server, "hopedit_cancelled_requests_total") - before_cancelled < 3
        and time.monotonic() < deadline
    ):
        time.sleep(0.2)
    assert _metric(server, "hopedit_cancelled_requests_total") - before_cancelled == 3
    # Had the three run to the end they would have written 900 tokens before the short request ran.
    assert _metric(server, written) - before_tokens - 4 < 450, "hung-up requests ran on"
    assert waited < 30


def test_full_queue_answers_429_with_retry_after(tmp_path) -> None:
    with running_server(tmp_path / "store", "--max-queue", "1") as server:
        body = {"model": BASE_MODEL, "prompt": COUNTING, "max_tokens": 200, "stream": True}
        with httpx.stream("POST", f"{server.v1}/completions", json=body, timeout=600) as busy:
            lines = busy.iter_lines()  # kept: a dropped iterator closes the stream, which cancels it
            next(lines)  # the first request is admitted and generating
            refused = httpx.post(
                f"{server.v1}/completions",
                json={"model": BASE_MODEL, "prompt": "Hi", "max_tokens": 2},
                timeout=60,
            )
            assert refused.status_code == 429, refused.text
            assert refused.headers["Retry-After"] == "1"
            assert refused.json()["error"]["code"] == "queue_full"


def test_a_decomposition_pipeline_stops_at_its_next_model_call_when_its_client_left(
    server: RunningServer,
) -> None:
    whole = _chat(server, "hopedit-mello", QUESTION).json()
    assert whole["hopedit"]["model_calls"] >= 2  # else there is no later call to skip
    read = 'hopedit_tokens_total{kind="prompt",model="hopedit-mello"}'
    before = _metric(server, read)
    body = {"model": "hopedit-mello", "messages": [{"role": "user", "content": QUESTION}]}
    with pytest.raises(httpx.TimeoutException):
        httpx.post(f"{server.v1}/chat/completions", json=body, timeout=1.0)
    deadline = time.monotonic() + 120
    while _metric(server, read) == before and time.monotonic() < deadline:
        time.sleep(0.5)  # the pipeline reports its tokens when it stops
    assert 0 < _metric(server, read) - before < whole["usage"]["prompt_tokens"], "it ran every call"

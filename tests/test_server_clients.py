"""Real OpenAI-ecosystem clients against the real server: the `openai` package and LangChain's ChatOpenAI.

If these pass, anything configured for a vLLM server works against hopedit by changing the base URL.
"""

from __future__ import annotations

import concurrent.futures

import httpx
import openai
import pytest
from helpers_server import BASE_MODEL, RunningServer, running_server

pytestmark = [pytest.mark.server, pytest.mark.slow]

API_KEY = "clients-key"
QUESTION = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> RunningServer:
    store = tmp_path_factory.mktemp("serve-clients") / "store"
    with running_server(store, api_key=API_KEY) as running:
        yield running


@pytest.fixture(scope="module")
def client(server: RunningServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.v1, api_key=API_KEY, max_retries=0, timeout=120)


@pytest.mark.ci
def test_openai_chat_non_streaming_and_streaming_agree(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(model=BASE_MODEL, messages=QUESTION, max_tokens=12, temperature=0)
    text = reply.choices[0].message.content
    assert "Paris" in text
    assert reply.choices[0].finish_reason in ("stop", "length")
    usage = reply.usage
    assert usage.prompt_tokens > 5 and 0 < usage.completion_tokens <= 12
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens

    stream = client.chat.completions.create(
        model=BASE_MODEL,
        messages=QUESTION,
        max_tokens=12,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == text  # greedy: the same answer either way
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) >= 1
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == reply.choices[0].finish_reason
    assert chunks[-1].usage.completion_tokens == usage.completion_tokens


def test_openai_completion_max_tokens_and_stop(client: openai.OpenAI) -> None:
    limited = client.completions.create(model=BASE_MODEL, prompt="One, two, three, four,", max_tokens=3)
    assert limited.choices[0].finish_reason == "length"
    assert limited.usage.completion_tokens == 3

    stopped = client.completions.create(
        model=BASE_MODEL, prompt="One, two, three, four,", max_tokens=20, stop=[","]
    )
    assert "," not in stopped.choices[0].text
    assert stopped.choices[0].finish_reason == "stop"

    streamed = client.completions.create(
        model=BASE_MODEL, prompt="One, two, three, four,", max_tokens=3, stream=True
    )
    assert "".join(chunk.choices[0].text for chunk in streamed if chunk.choices) == limited.choices[0].text


def test_openai_errors_map_to_exception_types(server: RunningServer, client: openai.OpenAI) -> None:
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=server.v1, api_key="wrong", max_retries=0).models.list()
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-4o", messages=QUESTION)
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model=BASE_MODEL, messages=QUESTION, n=3)
    assert raised.value.body["param"] == "n"
    assert [m.id for m in client.models.list()][-1] == BASE_MODEL


def test_concurrent_requests_share_batches(server: RunningServer, client: openai.OpenAI) -> None:
    prompts = [f"Count from {i} to {i + 5}:" for i in range(8)]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        replies = list(
            pool.map(lambda p: client.completions.create(model=BASE_MODEL, prompt=p, max_tokens=8), prompts)
        )
    assert all(r.choices[0].text for r in replies)
    batches = httpx.get(f"{server.url}/health").json()["batches"]["generate"]
    assert max(int(size) for size in batches["batch_sizes"]) > 1


def test_langchain_chat_openai_invoke_and_stream(server: RunningServer) -> None:
    from langchain_openai import ChatOpenAI

    chat = ChatOpenAI(base_url=server.v1, api_key=API_KEY, model=BASE_MODEL, max_tokens=12, temperature=0)
    message = chat.invoke("What is the capital of France? Answer in one word.")
    assert "Paris" in message.content
    assert message.usage_metadata["output_tokens"] > 0
    pieces = [chunk.content for chunk in chat.stream("What is the capital of France? Answer in one word.")]
    assert "".join(pieces) == message.content
    assert len(pieces) >= 2

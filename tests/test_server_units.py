"""Server pieces in process, no model: API-key checks on malformed headers, token deltas that only
ever extend the final text, options a pipeline cannot honour, 429's Retry-After."""

from __future__ import annotations

import asyncio

import pytest

from agent.server.app import GuardMiddleware, _api_error
from agent.server.errors import APIError, queue_full
from agent.server.serving_base import check_pipeline_options
from agent.server.streaming import TokenStream


async def _ok(scope, receive, send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def _status(api_key: str, header: bytes | None) -> int:
    headers = [] if header is None else [(b"authorization", header)]
    scope = {"type": "http", "path": "/v1/models", "method": "GET", "headers": headers}
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b""}

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(GuardMiddleware(_ok, api_key=api_key, max_body_bytes=1024)(scope, receive, send))
    return sent[0]["status"]


@pytest.mark.parametrize(
    "header",
    [
        None,
        b"",
        b"Bearer",
        b"Bearer ",
        b"Basic c2VjcmV0",
        b"Bearer wrong",
        "Bearer ключ".encode(),
        b"Bearer \xff\xfe\x00",
        "Bearer clé".encode("latin-1"),
    ],
)
def test_malformed_or_wrong_authorization_gets_401(header: bytes | None) -> None:
    assert _status("secret", header) == 401
    assert _status("clé", header) == 401


def test_right_key_passes_even_when_it_is_not_ascii() -> None:
    assert _status("secret", b"Bearer secret") == 200
    assert _status("secret", b"bearer  secret ") == 200
    assert _status("clé", "Bearer clé".encode()) == 200


def test_queue_full_carries_retry_after() -> None:
    error = queue_full(7, retry_after_s=3)
    response = _api_error(None, error)  # type: ignore[arg-type]
    assert response.status_code == 429
    assert response.headers["retry-after"] == "3"
    assert "7 requests already queued" in error.message


@pytest.mark.parametrize(
    ("options", "param"),
    [
        ({"max_tokens": 5, "stop": [], "temperature": None}, "max_tokens"),
        ({"max_tokens": None, "stop": ["\n"], "temperature": None}, "stop"),
        ({"max_tokens": None, "stop": [], "temperature": 0.5}, "temperature"),
    ],
)
def test_multi_call_pipelines_reject_generation_options(options: dict, param: str) -> None:
    with pytest.raises(APIError) as raised:
        check_pipeline_options("hopedit-mello", **options)
    assert raised.value.status == 400 and raised.value.param == param
    check_pipeline_options("hopedit-instructed", **options)  # one generation: honoured
    check_pipeline_options("smollm2-135m-instruct", **options)
    check_pipeline_options("hopedit-mello", max_tokens=None, stop=[], temperature=0.0)


class CharTokenizer:
    """One token per character; id 0 is EOS."""

    eos_token_id = 0

    @staticmethod
    def decode(ids: list[int], skip_special_tokens: bool = True) -> str:
        return "".join(chr(i) for i in ids if i != 0)


def _deltas(text: str, stop: list[str]) -> tuple[list[str], TokenStream]:
    async def run() -> tuple[list[str], TokenStream]:
        stream = TokenStream(asyncio.get_running_loop(), CharTokenizer(), stop, live=True)
        ids: list[int] = []
        for char in text:
            ids.append(ord(char))
            stream.on_ids(list(ids))
        stream.finish()
        return [delta async for delta in stream.deltas()], stream

    return asyncio.run(run())


@pytest.mark.parametrize(
    ("generated", "stop", "final"),
    [
        ("  Quillport is the capital.  ", [], "Quillport is the capital."),
        ("Quillport\nand more", ["\n"], "Quillport"),
        ("one two STOP three", ["STOP"], "one two"),
        ("one two ST", ["STOP"], "one two ST"),  # held back until the end proved it was no stop
    ],
)
def test_streamed_deltas_only_ever_extend_the_final_text(generated: str, stop: list[str], final: str) -> None:
    deltas, stream = _deltas(generated, stop)
    streamed = "".join(deltas)
    assert final.startswith(streamed)
    assert streamed + stream.rest(final) == final
    assert not any(s in streamed for s in stop)
    assert len(deltas) > 1  # streamed as it came, not in one piece at the end


def test_a_cancelled_stream_ends_its_row() -> None:
    async def run() -> tuple[bool, bool]:
        stream = TokenStream(asyncio.get_running_loop(), CharTokenizer(), [], live=False)
        before = stream.on_ids([65])
        stream.cancel()
        return before, stream.on_ids([65, 66])

    assert asyncio.run(run()) == (False, True)

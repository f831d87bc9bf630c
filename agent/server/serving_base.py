"""What the chat and completions endpoints share: request checks, usage, SSE framing, and turning a
job's events into one response (cancelling the job when the client hangs up)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable

from pydantic import BaseModel
from starlette.types import Receive

from agent.server.errors import APIError, bad_request
from agent.server.generation import ONE_GENERATION, PIPELINES, Completion
from agent.server.protocol import Usage
from agent.server.streaming import ClientGone, watched


def check_single_choice(n: int) -> None:
    if n != 1:
        raise bad_request(f"n={n}: this server returns exactly one choice per request (n=1)", param="n")


def check_pipeline_options(
    model: str, max_tokens: int | None, stop: list[str], temperature: float | None
) -> None:
    """A pipeline that makes several model calls has its own budgets and stop strings: options it
    cannot honour are rejected, naming the parameter, rather than ignored."""
    if model not in PIPELINES or model in ONE_GENERATION:
        return
    why = f"{model} makes several model calls with their own settings, so it cannot honour"
    if max_tokens is not None:
        raise bad_request(f"{why} max_tokens; leave it out (hopedit-instructed takes it)", param="max_tokens")
    if stop:
        raise bad_request(f"{why} stop; leave it out (hopedit-instructed takes it)", param="stop")
    if temperature:
        raise bad_request(f"{why} temperature > 0; it decodes greedily", param="temperature")


def usage_of(completion: Completion) -> Usage:
    return Usage(
        prompt_tokens=completion.prompt_tokens,
        completion_tokens=completion.completion_tokens,
        total_tokens=completion.prompt_tokens + completion.completion_tokens,
    )


def sse(payload: BaseModel | str) -> str:
    data = payload if isinstance(payload, str) else payload.model_dump_json(exclude_none=True)
    return f"data: {data}\n\n"


async def collect(events: AsyncGenerator[str | Completion, None], receive: Receive) -> Completion:
    """The job's `Completion`; 499 (nobody reads it) when the client hung up first, its work cancelled."""
    try:
        async for event in watched(events, receive):
            if isinstance(event, Completion):
                return event
    except ClientGone:
        raise APIError(499, "the client closed the request", code="client_closed_request") from None
    raise RuntimeError("the generation ended without a result")


async def relay(
    events: AsyncIterator[str | Completion],
    rest: Callable[[str], str],
    piece: Callable[[str], str],
    finish: Callable[[Completion], str],
    usage: Callable[[Completion], str] | None,
) -> AsyncGenerator[str, None]:
    """The body of every endpoint's stream, framed by the endpoint's own chunk makers: text pieces as the
    job sends them, whatever the final text adds (`rest`), the finishing chunk, the usage chunk when asked
    for, then [DONE]. A client that hung up ends it quietly; its work was already cancelled."""
    try:
        async for event in events:
            if isinstance(event, str):
                yield piece(event)
                continue
            if tail := rest(event.text):
                yield piece(tail)
            yield finish(event)
            if usage is not None:
                yield usage(event)
    except ClientGone:
        return
    yield sse("[DONE]")

"""What every router needs from the request: the app's serving engine and request checks."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from pydantic import BaseModel

from agent.server.errors import bad_request
from agent.server.serving import ServingEngine


def get_engine(request: Request) -> ServingEngine:
    return request.app.state.engine


Engine = Annotated[ServingEngine, Depends(get_engine)]


def check_single_choice(n: int) -> None:
    if n != 1:
        raise bad_request(f"n={n}: this server returns exactly one choice per request (n=1)", param="n")


def sse(payload: BaseModel | str) -> str:
    data = payload if isinstance(payload, str) else payload.model_dump_json(exclude_none=True)
    return f"data: {data}\n\n"


def stream_pieces(text: str) -> Iterator[str]:
    """Word-sized deltas: generation is batched, so the text exists whole before it is streamed."""
    yield from (piece for piece in re.findall(r"\s*\S+|\s+$", text) if piece)

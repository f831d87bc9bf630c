"""The facts API: write, bulk-load, search, delete and inspect the edit memory over HTTP.

Writes run in a worker thread and return only after the memory has persisted them, so an id in a
2xx response survives a crash of the server.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Query, Request
from fastapi.concurrency import run_in_threadpool

from agent.server.errors import bad_request
from agent.server.protocol import (
    FactDeleted,
    FactList,
    FactOut,
    FactsAddRequest,
    FactsBody,
    FactsWriteResponse,
)
from agent.server.routers.deps import Engine

router = APIRouter(tags=["facts"])


@router.post("/v1/facts", response_model=FactsWriteResponse)
async def add_facts(body: Annotated[FactsBody, Body()], engine: Engine) -> FactsWriteResponse:
    """One fact object, or {"facts": [...]} for many (validated as a whole, then written)."""
    facts = body.facts if isinstance(body, FactsAddRequest) else [body]
    return FactsWriteResponse(**await run_in_threadpool(engine.add_facts, facts))


@router.post("/v1/facts:load", response_model=FactsWriteResponse)
async def load_facts(
    request: Request,
    engine: Engine,
    format: Annotated[str | None, Query(description="as for `hopedit facts load --format`")] = None,
    filename: Annotated[str, Query(description="names the file in errors; hints the format")] = "upload",
    kind: Literal["edit", "background"] = "edit",
) -> FactsWriteResponse:
    body = await request.body()
    if not body:
        raise bad_request("the request body (the fact file) is empty", param="body")
    return FactsWriteResponse(**await run_in_threadpool(engine.load_facts, body, format, kind, filename))


@router.get("/v1/facts", response_model=FactList)
async def list_facts(
    engine: Engine,
    query: Annotated[str | None, Query(description="dense search over active facts; omit to list")] = None,
    k: Annotated[int, Query(ge=1, le=100_000)] = 10,
) -> FactList:
    return FactList(data=await run_in_threadpool(engine.search_facts, query, k))


@router.delete("/v1/facts/{fact_id}", response_model=FactDeleted)
async def delete_fact(fact_id: str, engine: Engine) -> FactDeleted:
    removed = await run_in_threadpool(engine.remove_fact, fact_id)
    return FactDeleted(id=removed.id, fact=removed)


@router.get("/v1/facts/{subject}/{relation}/history", response_model=FactList)
async def fact_history(subject: str, relation: str, engine: Engine) -> FactList:
    versions: list[FactOut] = await run_in_threadpool(engine.history, subject, relation)
    return FactList(data=versions)


@router.get("/v1/facts:history", response_model=FactList)
async def fact_history_by_query(
    engine: Engine,
    subject: Annotated[str, Query(min_length=1, description="any name, including one with '/'")],
    relation: Annotated[str, Query(min_length=1)],
) -> FactList:
    """The same history with the names as query parameters: a '/' in a path segment splits it."""
    versions: list[FactOut] = await run_in_threadpool(engine.history, subject, relation)
    return FactList(data=versions)

"""The facts API: write, bulk-load, search, delete and inspect the edit memory over HTTP.

Writes run in a worker thread and return only after the memory has persisted them, so an id in a
2xx response survives a crash of the server. A fact-file upload (`POST /v1/facts:load`) is checked in the
request (format errors: 400; more facts than the per-request limit: 413) and written by a background job:
202 with the job, whose progress and result `GET /v1/facts:load/{id}` reports (`?wait=true` answers when
the job has finished instead).
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from agent.server.errors import bad_request
from agent.server.facts_serving import FactsLoadJob, FactsServing
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


def get_facts(engine: Engine) -> FactsServing:
    return engine.facts


Facts = Annotated[FactsServing, Depends(get_facts)]


@router.post("/v1/facts", response_model=FactsWriteResponse)
async def add_facts(body: Annotated[FactsBody, Body()], facts: Facts) -> FactsWriteResponse:
    """One fact object, or {"facts": [...]} for many (validated as a whole, then written)."""
    records = body.facts if isinstance(body, FactsAddRequest) else [body]
    return await run_in_threadpool(facts.add_facts, records)


@router.post("/v1/facts:load", response_model=FactsLoadJob, status_code=202)
async def load_facts(
    request: Request,
    facts: Facts,
    format: Annotated[str | None, Query(description="as for `hopedit facts load --format`")] = None,
    filename: Annotated[str, Query(description="names the file in errors; hints the format")] = "upload",
    kind: Literal["edit", "background"] = "edit",
    wait: Annotated[bool, Query(description="answer 200 once the job has finished")] = False,
) -> FactsLoadJob | JSONResponse:
    body = await request.body()
    if not body:
        raise bad_request("the request body (the fact file) is empty", param="body")
    job = await run_in_threadpool(facts.start_load, body, format, kind, filename)
    if not wait:
        return job
    while job.status in ("queued", "running"):
        job = await run_in_threadpool(facts.wait_for, job.id, 1.0)
        await asyncio.sleep(0)
    return JSONResponse(job.model_dump(mode="json"), status_code=200)


@router.get("/v1/facts:load/{job_id}", response_model=FactsLoadJob)
async def load_status(job_id: str, facts: Facts) -> FactsLoadJob:
    return facts.load_status(job_id)


@router.get("/v1/facts", response_model=FactList)
async def list_facts(
    facts: Facts,
    query: Annotated[str | None, Query(description="dense search over active facts; omit to list")] = None,
    k: Annotated[int, Query(ge=1, le=100_000)] = 10,
) -> FactList:
    return FactList(data=await run_in_threadpool(facts.search_facts, query, k))


@router.delete("/v1/facts/{fact_id}", response_model=FactDeleted)
async def delete_fact(fact_id: str, facts: Facts) -> FactDeleted:
    removed = await run_in_threadpool(facts.remove_fact, fact_id)
    return FactDeleted(id=removed.id, fact=removed)


@router.get("/v1/facts/{subject}/{relation}/history", response_model=FactList)
async def fact_history(subject: str, relation: str, facts: Facts) -> FactList:
    versions: list[FactOut] = await run_in_threadpool(facts.history, subject, relation)
    return FactList(data=versions)


@router.get("/v1/facts:history", response_model=FactList)
async def fact_history_by_query(
    facts: Facts,
    subject: Annotated[str, Query(min_length=1, description="any name, including one with '/'")],
    relation: Annotated[str, Query(min_length=1)],
) -> FactList:
    """The same history with the names as query parameters: a '/' in a path segment splits it."""
    versions: list[FactOut] = await run_in_threadpool(facts.history, subject, relation)
    return FactList(data=versions)

"""POST /v1/completions, streaming and not; the logic is in `agent.server.serving_completions`."""

from __future__ import annotations

from fastapi import APIRouter, Request

from agent.server.protocol import CompletionRequest, CompletionResponse
from agent.server.routers.deps import Engine

router = APIRouter(tags=["completions"])


@router.post("/v1/completions", response_model=CompletionResponse, response_model_exclude_none=True)
async def completions(request: CompletionRequest, raw: Request, engine: Engine):
    return await engine.completions.create(request, raw.receive)

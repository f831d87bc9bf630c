"""GET /health (liveness plus queue and batch statistics) and GET /metrics (Prometheus text)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from agent.server.routers.deps import Engine

router = APIRouter(tags=["health"])


@router.get("/health")
async def health(engine: Engine) -> JSONResponse:
    info = await run_in_threadpool(engine.health)
    return JSONResponse(info, status_code=200 if engine.ready else 503)


@router.get("/metrics")
async def metrics(engine: Engine) -> Response:
    return Response(generate_latest(engine.metrics.registry), media_type=CONTENT_TYPE_LATEST)

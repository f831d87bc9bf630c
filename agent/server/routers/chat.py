"""POST /v1/chat/completions, streaming and not; the logic is in `agent.server.serving_chat`."""

from __future__ import annotations

from fastapi import APIRouter, Request

from agent.server.protocol import ChatCompletionRequest, ChatCompletionResponse
from agent.server.routers.deps import Engine

router = APIRouter(tags=["chat"])


@router.post("/v1/chat/completions", response_model=ChatCompletionResponse, response_model_exclude_none=True)
async def chat_completions(request: ChatCompletionRequest, raw: Request, engine: Engine):
    return await engine.chat.create(request, raw.receive)

"""GET /v1/models: the QA pipelines and the bare base model (`agent.server.serving_models`)."""

from __future__ import annotations

from fastapi import APIRouter

from agent.server.protocol import ModelCard, ModelList
from agent.server.routers.deps import Engine

router = APIRouter(tags=["models"])


@router.get("/v1/models", response_model=ModelList)
async def list_models(engine: Engine) -> ModelList:
    return ModelList(data=engine.models.cards())


@router.get("/v1/models/{model_id}", response_model=ModelCard)
async def get_model(model_id: str, engine: Engine) -> ModelCard:
    return engine.models.card(model_id)

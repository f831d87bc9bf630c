"""What GET /v1/models serves, and the check every generation endpoint makes on `model`."""

from __future__ import annotations

from collections.abc import Callable

from agent.server.errors import APIError
from agent.server.generation import PIPELINES
from agent.server.protocol import ModelCard


def not_ready(what: str) -> APIError:
    return APIError(503, f"the {what} is still loading", type="server_error", code="not_ready")


class ServingModels:
    """The QA pipelines and the bare base model, by id."""

    def __init__(self, base_model_id: Callable[[], str | None]) -> None:
        self._base_model_id = base_model_id

    @property
    def base_model(self) -> str:
        model_id = self._base_model_id()
        if model_id is None:
            raise not_ready("model")
        return model_id

    def cards(self) -> list[ModelCard]:
        cards = [ModelCard(id=name, description=description) for name, (_, description) in PIPELINES.items()]
        cards.append(ModelCard(id=self.base_model, description="the unedited base model (plain generation)"))
        return cards

    def card(self, model_id: str) -> ModelCard:
        self.check(model_id)
        return next(card for card in self.cards() if card.id == model_id)

    def check(self, model: str) -> None:
        if model not in PIPELINES and model != self.base_model:
            known = ", ".join([*PIPELINES, self.base_model])
            raise APIError(
                404, f"model {model!r} does not exist; served: {known}", param="model", code="model_not_found"
            )

"""One server process: the model engine, the memory, and the serving logic of each endpoint group.

Routes stay thin; what the server does lives in one object per endpoint group, vLLM style, each
readable without HTTP in the way: `ServingChat` (serving_chat.py), `ServingCompletions`
(serving_completions.py), `ServingModels` (serving_models.py), over the `GenerationService`
(generation.py: batching, streaming, cancellation, admission) they share. Models load through the
process's one `agent.engine.Engine`. Blocking work (the model, Chroma) runs in worker threads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agent.engine import Engine, EngineConfig
from agent.server.config import ServerConfig
from agent.server.facts_serving import FactsServing
from agent.server.generation import GenerationService
from agent.server.metrics import ServerMetrics
from agent.server.serving_chat import ServingChat
from agent.server.serving_completions import ServingCompletions
from agent.server.serving_models import ServingModels, not_ready

if TYPE_CHECKING:
    from memory import Memory


class ServingEngine:
    """Owns the model engine, the memory and the endpoint groups' serving logic of one server."""

    def __init__(self, config: ServerConfig, engine: Engine | None = None) -> None:
        self.config = config
        self.engine = engine or Engine(
            EngineConfig(
                model_spec=config.model,
                prefixes=config.prefixes,
                max_batch_size=config.max_batch,
                max_wait_s=config.batch_wait_ms / 1000,
                prompt_lookup=config.prompt_lookup,
            )
        )
        self.facts = FactsServing(config)  # the memory, its writes and upload jobs (facts_serving.py)
        self.metrics = ServerMetrics(self.queue_depths)
        self.generation = GenerationService(config, self.engine, self.metrics, self.facts.lock)
        self.models = ServingModels(lambda: llm.model_id if (llm := self.engine.loaded_llm) else None)
        self.chat = ServingChat(config, self.models, self.generation)
        self.completions = ServingCompletions(config, self.models, self.generation)
        self.ready = False

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Load the model and open the memory before the first request, so requests never pay for it."""
        self.facts.open()
        self.engine.memory = self.facts.memory
        self.generation.load()
        self.ready = True

    def close(self) -> None:
        self.ready = False
        self.generation.close()
        self.facts.close()

    @property
    def memory(self) -> Memory:
        if not self.facts.is_open:
            raise not_ready("memory")
        return self.facts.memory

    # --- observability --------------------------------------------------------------------------

    def queue_depths(self) -> dict[str, float]:
        return self.generation.queue_depths()

    def health(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "status": "ok" if self.ready else "loading",
            "queue": self.queue_depths(),
            "batches": self.generation.batch_stats(),
        }
        if (llm := self.engine.loaded_llm) is not None:
            info["model"] = llm.model_id
        if self.facts.is_open:
            info["memory"] = self.facts.stats()  # a snapshot: never waits behind a write
        return info

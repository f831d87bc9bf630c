"""The serving logic behind the HTTP routes: model calls, batching, admission control, facts.

Routes stay thin; everything that decides what the server does lives here, so it can be read
(and reasoned about) without HTTP in the way. Blocking work (the model, Chroma) runs in worker
threads; concurrent requests meet in `DynamicBatcher`s, one for raw generation on the base model
and one per QA pipeline, so 16 clients cost about one batched `generate` instead of 16.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import tempfile
import threading
from collections.abc import Hashable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.batching import BatcherFull, DynamicBatcher
from agent.server.config import ServerConfig
from agent.server.errors import APIError, bad_request, queue_full, too_large
from agent.server.metrics import ServerMetrics
from agent.server.protocol import FactIn, FactOut, HopeditTrace, ModelCard
from agent.server.rwlock import RWLock

if TYPE_CHECKING:
    from agent.base import Agent, Answer
    from editor.llm import Generation, LocalLLM
    from memory import Memory
    from memory.facts import Fact

# Served QA pipelines: model id -> agent method name understood by agent.factory.build_agent.
PIPELINES: dict[str, tuple[str, str]] = {
    "hopedit-instructed": (
        "instructed",
        "fact memory + chain retrieval + the InstructEd prefix-edited model",
    ),
    "hopedit-mello": ("mello", "MeLLo: decompose, retrieve, self-check, on the base model"),
    "hopedit-pokemqa": ("pokemqa", "PokeMQA: decompose with a scope detector, on the base model"),
}


@dataclass(frozen=True)
class GenerationJob:
    """One raw-text generation; jobs with the same key can share a `generate` call."""

    prompt: str
    max_tokens: int
    stop: tuple[str, ...]
    temperature: float

    def batch_key(self) -> Hashable:
        return (self.max_tokens, self.stop, self.temperature)


@dataclass
class Completion:
    """What a completion route needs to build its response, whichever model produced it."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str
    trace: HopeditTrace | None = None


def fact_out(fact: Fact, score: float | None = None) -> FactOut:
    return FactOut(**fact.to_dict(), score=score)


def _trace(answer: Answer) -> HopeditTrace:
    return HopeditTrace(
        facts=[fact.to_dict() for fact in answer.facts_used],
        steps=[{"kind": s.kind, "text": s.text, "data": s.data} for s in answer.steps],
        model_calls=answer.model_calls,
        timings=answer.timings,
    )


@dataclass
class _Pipelines:
    """QA agents, built on first use (MeLLo and PokeMQA cost nothing until someone asks them)."""

    agents: dict[str, Agent] = field(default_factory=dict)
    batchers: dict[str, DynamicBatcher[str, Answer]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


class ServingEngine:
    """Owns the model, the memory and the batchers of one server process."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.metrics = ServerMetrics(self.queue_depths)
        self._llm: LocalLLM | None = None
        self._counting_tokenizer: Any = None
        self._memory: Memory | None = None
        self._chat_model: Any = None
        self._text_batcher: DynamicBatcher[GenerationJob, Generation] | None = None
        self._pipelines = _Pipelines()
        self._admitted = 0  # model-bound requests in flight; touched only on the event loop
        self._memory_lock = RWLock()  # Memory is not thread-safe: writes exclusive, reads shared
        self.ready = False

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Load the model and open the memory before the first request, so requests never pay for it."""
        from editor.llm import LocalLLM
        from memory import Memory

        self._memory = Memory.open(self.config.store, chroma_url=self.config.chroma_url)
        self._llm = LocalLLM.load(self.config.model)
        # A fast tokenizer keeps its padding mode as mutable state: counting tokens on the event loop
        # with the model's own tokenizer would race the batch worker's padded encode.
        self._counting_tokenizer = copy.deepcopy(self._llm.tokenizer)
        self._text_batcher = DynamicBatcher(
            self._generate_batch,
            max_batch_size=self.config.max_batch,
            max_wait_s=self.config.batch_wait_ms / 1000,
            max_queue=self.config.max_queue,
            key=GenerationJob.batch_key,
            name="hopedit-serve-text",
        )
        self.ready = True

    def close(self) -> None:
        self.ready = False
        batchers = [self._text_batcher, *self._pipelines.batchers.values()]
        for batcher in batchers:
            if batcher is not None:
                batcher.close()

    @property
    def llm(self) -> LocalLLM:
        if self._llm is None:
            raise APIError(503, "the model is still loading", type="server_error", code="not_ready")
        return self._llm

    @property
    def memory(self) -> Memory:
        if self._memory is None:
            raise APIError(503, "the memory is still opening", type="server_error", code="not_ready")
        return self._memory

    # --- observability --------------------------------------------------------------------------

    def queue_depths(self) -> dict[str, float]:
        depths: dict[str, float] = {"admitted": float(self._admitted)}
        if self._text_batcher is not None:
            depths["generate"] = float(self._text_batcher.queue_depth)
        for name, batcher in list(self._pipelines.batchers.items()):
            depths[name] = float(batcher.queue_depth)
        return depths

    def batch_stats(self) -> dict[str, dict[str, Any]]:
        """Batch-size statistics of every batcher, including the one inside the agents' chat model."""
        named = {"generate": self._text_batcher, **self._pipelines.batchers}
        stats = {name: batcher.stats() for name, batcher in named.items() if batcher is not None}
        if self._chat_model is not None and (agent_llm := self._chat_model.batcher_stats()) is not None:
            stats["agent-llm"] = agent_llm
        return {
            name: {
                "batches": s.batches,
                "items": s.items,
                "mean_batch_size": round(s.mean_batch_size, 3),
                "batch_sizes": s.batch_sizes,
            }
            for name, s in stats.items()
        }

    def health(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "status": "ok" if self.ready else "loading",
            "queue": self.queue_depths(),
            "batches": self.batch_stats(),
        }
        if self._llm is not None:
            info["model"] = self._llm.model_id
        if self._memory is not None:
            with self._memory_lock.read():
                info["memory"] = self._memory.stats()
        return info

    # --- models ---------------------------------------------------------------------------------

    def models(self) -> list[ModelCard]:
        cards = [ModelCard(id=name, description=description) for name, (_, description) in PIPELINES.items()]
        cards.append(
            ModelCard(id=self.llm.model_id, description="the unedited base model (plain generation)")
        )
        return cards

    def check_model(self, model: str) -> None:
        if model not in PIPELINES and model != self.llm.model_id:
            known = ", ".join([*PIPELINES, self.llm.model_id])
            raise APIError(
                404, f"model {model!r} does not exist; served: {known}", param="model", code="model_not_found"
            )

    # --- generation -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def admit(self) -> Iterator[None]:
        """Bound the work in flight: beyond max_queue the client hears 429 at once instead of waiting."""
        if self._admitted >= self.config.max_queue:
            raise queue_full(self._admitted)
        self._admitted += 1
        try:
            yield
        finally:
            self._admitted -= 1

    def count_tokens(self, text: str) -> int:
        return len(self._counting_tokenizer(text, add_special_tokens=False)["input_ids"])

    def _check_budget(self, prompt: str, max_tokens: int) -> None:
        if max_tokens > self.config.max_new_tokens:
            raise bad_request(
                f"max_tokens={max_tokens} exceeds this server's limit of {self.config.max_new_tokens}",
                param="max_tokens",
            )
        n_prompt = self.count_tokens(prompt)
        if n_prompt > self.config.max_prompt_tokens:
            raise too_large(
                f"the prompt has {n_prompt} tokens; the limit is {self.config.max_prompt_tokens}",
                param="messages",
            )

    def _generate_batch(self, jobs: list[GenerationJob]) -> list[Generation]:
        first = jobs[0]
        self.metrics.batch_size.labels(queue="generate").observe(len(jobs))
        return self.llm.generate_text(
            [job.prompt for job in jobs],
            max_new_tokens=first.max_tokens,
            stop=list(first.stop),
            temperature=first.temperature,
        )

    async def generate(self, prompt: str, max_tokens: int, stop: list[str], temperature: float) -> Completion:
        """Plain generation on the base model, batched with whatever else is generating right now."""
        self._check_budget(prompt, max_tokens)
        assert self._text_batcher is not None
        job = GenerationJob(prompt, max_tokens, tuple(stop), temperature)
        with self.admit():
            try:
                future = self._text_batcher.submit_async(job)
            except BatcherFull as error:
                raise queue_full(self._text_batcher.queue_depth) from error
            generation = await asyncio.wrap_future(future)
        model = self.llm.model_id
        self.metrics.tokens.labels(model=model, kind="prompt").inc(generation.prompt_tokens)
        self.metrics.tokens.labels(model=model, kind="completion").inc(generation.completion_tokens)
        return Completion(
            generation.text, generation.prompt_tokens, generation.completion_tokens, generation.finish_reason
        )

    def render_chat(self, messages: list[dict[str, str]], add_generation_prompt: bool) -> str:
        if add_generation_prompt:
            return self.llm.render_chat(messages)  # the exact prompt the in-process agents see
        return self.llm.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=False)

    async def answer(self, model: str, question: str) -> Completion:
        """Run a QA pipeline; concurrent questions to the same pipeline are answered as one batch."""
        if not question.strip():
            raise bad_request("the last user message (the question) is empty", param="messages")
        self._check_budget(question, 1)
        with self.admit():
            batcher = self._pipeline_batcher(model)
            try:
                future = batcher.submit_async(question)
            except BatcherFull as error:
                raise queue_full(batcher.queue_depth) from error
            answer = await asyncio.wrap_future(future)
        prompt_tokens, completion_tokens = self.count_tokens(question), self.count_tokens(answer.text)
        self.metrics.tokens.labels(model=model, kind="prompt").inc(prompt_tokens)
        self.metrics.tokens.labels(model=model, kind="completion").inc(completion_tokens)
        return Completion(answer.text, prompt_tokens, completion_tokens, "stop", _trace(answer))

    def _pipeline_batcher(self, model: str) -> DynamicBatcher[str, Answer]:
        pipelines = self._pipelines
        with pipelines.lock:
            if model not in pipelines.batchers:
                agent = self._build_agent(PIPELINES[model][0])
                pipelines.agents[model] = agent

                def run(questions: list[str], agent: Agent = agent, model: str = model) -> list[Answer]:
                    self.metrics.batch_size.labels(queue=model).observe(len(questions))
                    with self._memory_lock.read():
                        return agent.answer_batch(questions)

                pipelines.batchers[model] = DynamicBatcher(
                    run,
                    max_batch_size=self.config.max_batch,
                    max_wait_s=self.config.batch_wait_ms / 1000,
                    max_queue=self.config.max_queue,
                    name=f"hopedit-serve-{model}",
                )
            return pipelines.batchers[model]

    def _build_agent(self, method: str) -> Agent:
        from agent.factory import build_agent
        from agent.langchain_llm import HopeditChatModel

        if method == "instructed":
            # The editor loads its own copy of the base weights, so the prefixed model never shares
            # a module with plain generation running in another thread.
            return build_agent(method, memory=self.memory, model_spec=self.config.model)
        if self._chat_model is None:
            self._chat_model = HopeditChatModel(
                llm=self.llm,
                max_batch_size=self.config.max_batch,
                max_wait_s=self.config.batch_wait_ms / 1000,
            )
        return build_agent(method, memory=self.memory, chat_model=self._chat_model)

    # --- facts ----------------------------------------------------------------------------------

    def _check_fact_count(self, n: int) -> None:
        if n > self.config.max_facts_per_request:
            raise too_large(
                f"{n} facts in one request; this server takes at most {self.config.max_facts_per_request}",
                param="facts",
            )

    def add_facts(self, facts: list[FactIn]) -> dict[str, list[FactOut]]:
        """Validate all, then write; returns only once Chroma has persisted the write."""
        from memory.facts import Fact

        self._check_fact_count(len(facts))
        records = []
        for index, fact in enumerate(facts):
            try:
                records.append(Fact(**fact.model_dump(exclude_none=True), source="api"))
            except ValueError as error:
                raise bad_request(f"facts[{index}]: {error}", param=f"facts[{index}]") from error
        with self._memory_lock.write():
            result = self.memory.add(records)
        return self._write_result(result)

    def load_facts(
        self, body: bytes, format: str | None, kind: str, filename: str
    ) -> dict[str, list[FactOut]]:
        """Load a fact file sent as the request body, with `facts load`'s parsers and error messages."""
        from memory.loaders import FactFileError, detect_format

        name = Path(filename).name or "upload"
        with tempfile.TemporaryDirectory(prefix="hopedit-upload-") as tmp:
            path = Path(tmp) / name
            path.write_bytes(body)
            unit = "line"
            try:
                unit = "record" if detect_format(path, format) == "mquake" else "line"
                with self._memory_lock.write():
                    result = self.memory.load_file(path, format=format, kind=kind)
            except FactFileError as error:
                where = f"{name}, {unit} {error.line}" if error.line is not None else name
                raise bad_request(f"{where}: {error.message}", param="body", code="bad_fact_file") from error
        return self._write_result(result)

    def _write_result(self, result: Any) -> dict[str, list[FactOut]]:
        return {
            "added": [fact_out(f) for f in result.added],
            "superseded": [fact_out(f) for f in result.superseded],
            "unchanged": [fact_out(f) for f in result.unchanged],
        }

    def search_facts(self, query: str | None, k: int) -> list[FactOut]:
        with self._memory_lock.read():
            if query:
                return [fact_out(s.fact, s.score) for s in self.memory.search(query, k=k)]
            return [fact_out(f) for f in self.memory.facts(active_only=True)[:k]]

    def remove_fact(self, fact_id: str) -> FactOut:
        with self._memory_lock.write():
            try:
                return fact_out(self.memory.remove(fact_id))
            except KeyError as error:
                raise APIError(
                    404, f"no fact with id {fact_id!r}", param="id", code="fact_not_found"
                ) from error

    def history(self, subject: str, relation: str) -> list[FactOut]:
        with self._memory_lock.read():
            return [fact_out(f) for f in self.memory.history(subject, relation)]

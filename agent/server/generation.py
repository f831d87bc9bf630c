"""The model-facing half of serving, shared by the chat and completions endpoints.

Concurrent requests meet in `DynamicBatcher`s: one for raw generation on the base model and one per
QA pipeline, so 16 clients cost about one batched decoding run instead of 16. Every request carries a
`TokenStream`, through which the decoding loop streams its tokens and learns that its client hung up
(the row then leaves the batch at the next step; a request still queued never runs; MeLLo and PokeMQA
stop at their next model call).

Admission bounds the work in flight: beyond `max_queue` requests a client hears 429 at once, with
`Retry-After`.

What each pipeline honours (anything else is rejected by the endpoints before it gets here):
- `hopedit-instructed` answers in one generation of the prefix-edited model, so it takes the request's
  `max_tokens`, `stop` and `temperature` and streams its tokens; `usage` counts the prompt the model
  read (the retrieved facts as instructions, and the question) and the tokens it wrote.
- `hopedit-mello` and `hopedit-pokemqa` run several model calls with their own budgets and stop
  strings; they answer with the final answer only (streamed as one delta), and `usage` adds up
  every call's prompt and completion.
"""

from __future__ import annotations

import asyncio
import copy
import threading
from collections.abc import AsyncGenerator, Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.outputs import LLMResult
from langchain_core.tracers.context import register_configure_hook

from agent.batching import BatcherFull, DynamicBatcher
from agent.server.config import ServerConfig
from agent.server.errors import bad_request, queue_full, too_large
from agent.server.metrics import ServerMetrics
from agent.server.protocol import HopeditTrace
from agent.server.rwlock import RWLock
from agent.server.streaming import TokenStream

if TYPE_CHECKING:
    from concurrent.futures import Future

    from agent.base import Agent, Answer
    from agent.engine import Engine
    from editor.llm import Generation, LocalLLM

# Served QA pipelines: model id -> (agent method, description, whether it streams and takes sampling
# options: only a pipeline that answers in one generation can).
PIPELINES: dict[str, tuple[str, str]] = {
    "hopedit-instructed": (
        "instructed",
        "fact memory + chain retrieval + the InstructEd prefix-edited model (one generation: honours "
        "max_tokens, stop and temperature, streams tokens)",
    ),
    "hopedit-mello": (
        "mello",
        "MeLLo: decompose, retrieve, self-check, on the base model (several calls: final answer only)",
    ),
    "hopedit-pokemqa": (
        "pokemqa",
        "PokeMQA: decompose with a scope detector, on the base model (several calls: final answer only)",
    ),
}
ONE_GENERATION = frozenset({"hopedit-instructed"})


@dataclass(eq=False)
class Job:
    """One request's model work; jobs with the same key share a decoding run."""

    prompt: str  # the raw prompt (base model) or the question (pipelines)
    max_tokens: int | None  # None: the pipeline's own budget
    stop: tuple[str, ...]
    temperature: float
    stream: TokenStream

    def batch_key(self) -> Hashable:
        return (self.max_tokens, self.stop, self.temperature)


@dataclass
class Completion:
    """What an endpoint needs to build its response, whichever model produced it."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str
    trace: HopeditTrace | None = None


def trace_of(answer: Answer) -> HopeditTrace:
    return HopeditTrace(
        answer=answer.text,
        facts=[fact.to_dict() for fact in answer.facts_used],
        steps=[{"kind": s.kind, "text": s.text, "data": s.data} for s in answer.steps],
        model_calls=answer.model_calls,
        timings=answer.timings,
    )


def completion_of(result: Generation | Answer) -> Completion:
    """What an endpoint serves for a plain generation or an agent's answer. An answer made in one
    generation is served as the text the model wrote, as it was streamed; the `hopedit` trace carries
    the pipeline's answer and any check that changed it."""
    from agent.base import Answer

    if not isinstance(result, Answer):
        return Completion(result.text, result.prompt_tokens, result.completion_tokens, result.finish_reason)
    generated = [step for step in result.steps if step.kind == "generate"]
    text = generated[0].text if len(generated) == 1 else result.text
    last = generated[-1] if generated else (result.steps[-1] if result.steps else None)
    finish = str(last.data.get("finish_reason", "stop")) if last is not None else "stop"
    return Completion(text, result.prompt_tokens, result.completion_tokens, finish, trace_of(result))


@dataclass
class _Pipelines:
    """QA agents and their batchers, built on first use (MeLLo costs nothing until someone asks it)."""

    agents: dict[str, Agent] = field(default_factory=dict)
    batchers: dict[str, DynamicBatcher[Job, Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


class GenerationService:
    """Batched, streamed, cancellable model calls for the base model and the QA pipelines."""

    def __init__(
        self, config: ServerConfig, engine: Engine, metrics: ServerMetrics, memory_lock: RWLock
    ) -> None:
        self.config = config
        self.engine = engine
        self.metrics = metrics
        self.memory_lock = memory_lock
        self._counting_tokenizer: Any = None
        self._text_batcher: DynamicBatcher[Job, Generation] | None = None
        self._pipelines = _Pipelines()
        self.admitted = 0  # model-bound requests in flight (queued or running); event loop only

    def load(self) -> None:
        llm = self.engine.llm()
        # A fast tokenizer keeps its padding mode as mutable state: counting tokens on the event loop
        # with the model's own tokenizer would race the batch worker's padded encode.
        self._counting_tokenizer = copy.deepcopy(llm.tokenizer)
        self._text_batcher = self._batcher(self._generate_batch, "generate")

    def close(self) -> None:
        for batcher in [self._text_batcher, *self._pipelines.batchers.values()]:
            if batcher is not None:
                batcher.close()

    @property
    def llm(self) -> LocalLLM:
        return self.engine.llm()

    def _batcher(self, process: Callable[[list[Job]], list[Any]], name: str) -> DynamicBatcher[Job, Any]:
        return DynamicBatcher(
            process,
            max_batch_size=self.config.max_batch,
            max_wait_s=self.config.batch_wait_ms / 1000,
            max_queue=self.config.max_queue,
            key=Job.batch_key,
            name=f"hopedit-serve-{name}",
        )

    # --- observability ----------------------------------------------------------------------------

    def queue_depths(self) -> dict[str, float]:
        depths: dict[str, float] = {"admitted": float(self.admitted)}
        if self._text_batcher is not None:
            depths["generate"] = float(self._text_batcher.queue_depth)
        for name, batcher in list(self._pipelines.batchers.items()):
            depths[name] = float(batcher.queue_depth)
        return depths

    def batch_stats(self) -> dict[str, dict[str, Any]]:
        """Batch-size statistics of every batcher, including the one inside the agents' chat model."""
        named = {"generate": self._text_batcher, **self._pipelines.batchers}
        stats = {name: batcher.stats() for name, batcher in named.items() if batcher is not None}
        chat_model = self.engine.loaded_chat_model
        if chat_model is not None and (agent_llm := chat_model.batcher_stats()) is not None:
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

    # --- admission and limits ---------------------------------------------------------------------

    def count_tokens(self, text: str) -> int:
        return len(self._counting_tokenizer(text, add_special_tokens=False)["input_ids"])

    def check_budget(self, prompt: str, max_tokens: int | None, param: str) -> None:
        if max_tokens is not None and max_tokens > self.config.max_new_tokens:
            raise bad_request(
                f"max_tokens={max_tokens} exceeds this server's limit of {self.config.max_new_tokens}",
                param="max_tokens",
            )
        n_prompt = self.count_tokens(prompt)
        if n_prompt > self.config.max_prompt_tokens:
            raise too_large(
                f"the prompt has {n_prompt} tokens; the limit is {self.config.max_prompt_tokens}", param=param
            )

    # --- running a job ----------------------------------------------------------------------------

    def new_job(
        self, prompt: str, max_tokens: int | None, stop: list[str], temperature: float, live: bool
    ) -> Job:
        stream = TokenStream(asyncio.get_running_loop(), self.llm.tokenizer, stop, live)
        return Job(prompt, max_tokens, tuple(stop), temperature, stream)

    def start(self, model: str, job: Job) -> AsyncGenerator[str | Completion, None]:
        """Admit and queue the job now (429 before any response starts), and return its events: text
        deltas while the model generates, then the `Completion`. Closing the events early (the client
        hung up) cancels the job: queued, it never runs; running, its row leaves the batch."""
        if self.admitted >= self.config.max_queue:
            raise queue_full(self.admitted, self.config.retry_after_s)
        batcher = self._text_batcher if model not in PIPELINES else self._pipeline_batcher(model)
        assert batcher is not None
        try:
            future = batcher.submit_async(job)
        except BatcherFull as error:
            raise queue_full(batcher.queue_depth, self.config.retry_after_s) from error
        self.admitted += 1
        loop = asyncio.get_running_loop()

        def done(_: Future[Any]) -> None:  # finished, failed or cancelled: no longer in flight
            loop.call_soon_threadsafe(self._release)
            job.stream.finish()

        future.add_done_callback(done)
        return self._events(model, job, future)

    def _release(self) -> None:
        self.admitted -= 1

    async def _events(
        self, model: str, job: Job, future: Future[Any]
    ) -> AsyncGenerator[str | Completion, None]:
        try:
            async for delta in job.stream.deltas():
                yield delta
            result = await asyncio.wrap_future(future)
        except (asyncio.CancelledError, GeneratorExit):  # the client hung up: stop the work
            job.stream.cancel()
            future.cancel()
            self.metrics.cancelled.labels(model=model).inc()
            raise
        yield completion_of(result)

    def _count(self, model: str, prompt_tokens: int, completion_tokens: int) -> None:
        self.metrics.tokens.labels(model=model, kind="prompt").inc(prompt_tokens)
        self.metrics.tokens.labels(model=model, kind="completion").inc(completion_tokens)

    def _generate_batch(self, jobs: list[Job]) -> list[Generation]:
        first = jobs[0]
        self.metrics.batch_size.labels(queue="generate").observe(len(jobs))
        generations = self.llm.generate_text(
            [job.prompt for job in jobs],
            max_new_tokens=first.max_tokens or self.config.default_max_tokens,
            stop=list(first.stop),
            temperature=first.temperature,
            on_token=lambda row, ids: jobs[row].stream.on_ids(ids),
        )
        for generation in generations:  # tokens written for clients that left count too
            self._count(self.llm.model_id, generation.prompt_tokens, generation.completion_tokens)
        return generations

    def _pipeline_batcher(self, model: str) -> DynamicBatcher[Job, Answer]:
        pipelines = self._pipelines
        with pipelines.lock:
            if model not in pipelines.batchers:
                agent = self.engine.agent(PIPELINES[model][0])
                pipelines.agents[model] = agent
                run = self._one_generation if model in ONE_GENERATION else self._several_calls

                def process(jobs: list[Job], agent: Agent = agent, model: str = model) -> list[Answer]:
                    self.metrics.batch_size.labels(queue=model).observe(len(jobs))
                    with self.memory_lock.read():
                        answers = run(agent, jobs)
                    for answer in answers:
                        self._count(model, answer.prompt_tokens, answer.completion_tokens)
                    return answers

                pipelines.batchers[model] = self._batcher(process, model)
            return pipelines.batchers[model]

    @staticmethod
    def _one_generation(agent: Any, jobs: list[Job]) -> list[Answer]:
        first = jobs[0]
        return agent.answer_batch(
            [job.prompt for job in jobs],
            max_new_tokens=first.max_tokens,
            stop=first.stop,
            temperature=first.temperature,
            on_token=lambda row, ids: jobs[row].stream.on_ids(ids),
        )

    @staticmethod
    def _several_calls(agent: Any, jobs: list[Job]) -> list[Answer]:
        """One question per thread (the chat model batches their calls). Each counts the tokens of its
        own model calls, and stops at its next model call once its client has left."""
        from agent.base import Answer
        from agent.runnables import BATCH_CONCURRENCY

        def answer(job: Job) -> Answer:
            watcher = JobCallbacks(job.stream)
            token = _JOB_CALLBACKS.set(watcher)
            try:
                result = agent.answer(job.prompt)
            except ClientLeft:
                return Answer(
                    "", prompt_tokens=watcher.prompt_tokens, completion_tokens=watcher.completion_tokens
                )
            finally:
                _JOB_CALLBACKS.reset(token)
            result.prompt_tokens, result.completion_tokens = watcher.prompt_tokens, watcher.completion_tokens
            return result

        with ThreadPoolExecutor(max_workers=min(BATCH_CONCURRENCY, len(jobs))) as pool:
            return list(pool.map(answer, jobs))


class ClientLeft(Exception):
    """Raised at a pipeline's next model call after its client hung up, to stop its work there."""


class JobCallbacks(BaseCallbackHandler):
    """Per-job LangChain callbacks for the multi-call pipelines: token usage and cancellation."""

    raise_error = True  # ClientLeft must reach the agent's caller, not just a log line

    def __init__(self, stream: TokenStream) -> None:
        self.stream = stream
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self._lock = threading.Lock()

    def on_chat_model_start(self, serialized: dict[str, Any], messages: Any, **kwargs: Any) -> None:
        if self.stream.cancelled:
            raise ClientLeft("the client hung up")

    def on_llm_end(self, response: LLMResult, **kwargs: Any) -> None:
        for generations in response.generations:
            for generation in generations:
                usage = getattr(getattr(generation, "message", None), "usage_metadata", None) or {}
                with self._lock:
                    self.prompt_tokens += usage.get("input_tokens", 0)
                    self.completion_tokens += usage.get("output_tokens", 0)


# The running job's callbacks, seen by every LangChain call its thread makes (registered once: LangChain
# keeps every registered hook for the life of the process).
_JOB_CALLBACKS: ContextVar[JobCallbacks | None] = ContextVar("hopedit_serve_job", default=None)
register_configure_hook(_JOB_CALLBACKS, inheritable=True)

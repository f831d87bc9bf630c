"""POST /v1/completions (legacy text completions): request to job, job to response or event stream.

For the base model the prompt is continued verbatim (no chat template). For a hopedit-* pipeline the
prompt is the question, with the same options honoured or rejected as on the chat endpoint.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable

from fastapi.responses import StreamingResponse
from starlette.types import Receive

from agent.server.config import ServerConfig
from agent.server.errors import bad_request
from agent.server.generation import PIPELINES, Completion, GenerationService
from agent.server.protocol import CompletionChoice, CompletionRequest, CompletionResponse
from agent.server.serving_base import (
    check_pipeline_options,
    check_single_choice,
    collect,
    relay,
    sse,
    usage_of,
)
from agent.server.serving_models import ServingModels
from agent.server.streaming import watched


class ServingCompletions:
    def __init__(self, config: ServerConfig, models: ServingModels, generation: GenerationService) -> None:
        self.config = config
        self.models = models
        self.generation = generation

    async def create(
        self, request: CompletionRequest, receive: Receive
    ) -> CompletionResponse | StreamingResponse:
        check_single_choice(request.n)
        self.models.check(request.model)
        prompt = request.prompt_text
        if request.model in PIPELINES:
            max_tokens = request.token_budget(None)
            check_pipeline_options(request.model, max_tokens, request.stops, request.temperature)
            if not prompt.strip():
                raise bad_request("the prompt (the question) is empty", param="prompt")
        else:
            max_tokens = request.token_budget(self.config.default_max_tokens)
        self.generation.check_budget(prompt, max_tokens, param="prompt")
        job = self.generation.new_job(
            prompt, max_tokens, request.stops, request.temperature or 0.0, live=request.stream
        )
        events = self.generation.start(request.model, job)
        if request.stream:
            return StreamingResponse(
                self._chunks(request, watched(events, receive), job.stream.rest),
                media_type="text/event-stream",
            )
        completion = await collect(events, receive)
        text = prompt + completion.text if request.echo else completion.text
        return self._response(request, completion, text)

    @staticmethod
    def _response(request: CompletionRequest, completion: Completion, text: str) -> CompletionResponse:
        choice = CompletionChoice(text=text, finish_reason=completion.finish_reason)
        return CompletionResponse(
            model=request.model, choices=[choice], usage=usage_of(completion), hopedit=completion.trace
        )

    @staticmethod
    async def _chunks(
        request: CompletionRequest, events: AsyncIterator[str | Completion], rest: Callable[[str], str]
    ) -> AsyncGenerator[str, None]:
        head = CompletionResponse(model=request.model, choices=[])

        def chunk(piece: str, finish: str | None = None, **extra: object) -> str:
            choice = CompletionChoice(text=piece, finish_reason=finish)
            return sse(
                CompletionResponse(
                    id=head.id, created=head.created, model=request.model, choices=[choice], **extra
                )
            )

        def usage(event: Completion) -> str:
            return sse(
                CompletionResponse(
                    id=head.id, created=head.created, model=request.model, choices=[], usage=usage_of(event)
                )
            )

        if request.echo:
            yield chunk(request.prompt_text)
        async for framed in relay(
            events,
            rest,
            chunk,
            lambda event: chunk("", event.finish_reason, hopedit=event.trace),
            usage if request.include_usage_in_stream else None,
        ):
            yield framed

"""POST /v1/chat/completions: request to job, job to response or event stream.

For the base model the whole conversation is rendered with the chat template and continued (the path
a LangChain `ChatOpenAI` driving an agent takes, as it would against vLLM).

A hopedit-* pipeline answers one question: the request must hold exactly one message, from the user.
Earlier turns and system messages are rejected with 400 (param `messages`) rather than ignored: the
pipelines retrieve facts for the question alone and would not read them.

`hopedit-instructed` answers in one generation, so its message content is the text the model wrote,
streamed token by token, cut by the request's `max_tokens` and `stop`, sampled at its `temperature`;
`hopedit.answer` holds the short answer the evaluation compares. MeLLo and PokeMQA reject those
options (see `serving_base.check_pipeline_options`) and stream their final answer in one delta.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable

from fastapi.responses import StreamingResponse
from starlette.types import Receive

from agent.server.config import ServerConfig
from agent.server.errors import bad_request
from agent.server.generation import PIPELINES, Completion, GenerationService
from agent.server.protocol import (
    ChatChoice,
    ChatChunkChoice,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChatCompletionResponse,
    DeltaMessage,
    ResponseMessage,
)
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

_TEMPLATE_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}


class ServingChat:
    def __init__(self, config: ServerConfig, models: ServingModels, generation: GenerationService) -> None:
        self.config = config
        self.models = models
        self.generation = generation

    async def create(
        self, request: ChatCompletionRequest, receive: Receive
    ) -> ChatCompletionResponse | StreamingResponse:
        check_single_choice(request.n)
        self.models.check(request.model)
        if request.model in PIPELINES:
            prompt, max_tokens = self._question(request), request.token_budget(None)
            check_pipeline_options(request.model, max_tokens, request.stops, request.temperature)
        else:
            prompt, max_tokens = self._prompt(request), request.token_budget(self.config.default_max_tokens)
        self.generation.check_budget(prompt, max_tokens, param="messages")
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
        return ChatCompletionResponse(
            model=request.model,
            choices=[
                ChatChoice(
                    message=ResponseMessage(content=completion.text), finish_reason=completion.finish_reason
                )
            ],
            usage=usage_of(completion),
            hopedit=completion.trace,
        )

    def _prompt(self, request: ChatCompletionRequest) -> str:
        """The templated prompt; with continue_final_message the last assistant message is left open."""
        messages = []
        for index, message in enumerate(request.messages):
            if message.role not in _TEMPLATE_ROLES:
                raise bad_request(
                    f"messages[{index}]: role {message.role!r} is not supported", param="messages"
                )
            messages.append({"role": _TEMPLATE_ROLES[message.role], "content": message.text()})
        llm = self.generation.llm
        if request.continue_final_message:
            if messages[-1]["role"] != "assistant":
                raise bad_request("continue_final_message needs a final assistant message", param="messages")
            return llm.render_chat(messages[:-1]) + messages[-1]["content"]
        if request.add_generation_prompt:
            return llm.render_chat(messages)  # the exact prompt the in-process agents see
        return llm.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=False)

    @staticmethod
    def _question(request: ChatCompletionRequest) -> str:
        model = request.model
        if len(request.messages) != 1 or request.messages[0].role != "user":
            roles = ", ".join(message.role for message in request.messages)
            raise bad_request(
                f"{model} answers one question per request: send exactly one user message (got {roles}). "
                "Earlier turns and system messages are rejected, not used: the pipeline retrieves facts "
                "for the question alone",
                param="messages",
            )
        if request.continue_final_message or not request.add_generation_prompt:
            raise bad_request(
                f"{model} writes its own prompt: continue_final_message does not apply", param="messages"
            )
        question = request.messages[0].text()
        if not question.strip():
            raise bad_request("the user message (the question) is empty", param="messages")
        return question

    @staticmethod
    async def _chunks(
        request: ChatCompletionRequest,
        events: AsyncIterator[str | Completion],
        rest: Callable[[str], str],
    ) -> AsyncGenerator[str, None]:
        head = ChatCompletionResponse(
            model=request.model, choices=[], usage=usage_of(Completion("", 0, 0, ""))
        )

        def chunk(delta: DeltaMessage, finish: str | None = None, **extra: object) -> str:
            choice = ChatChunkChoice(delta=delta, finish_reason=finish)
            return sse(
                ChatCompletionChunk(
                    id=head.id, created=head.created, model=request.model, choices=[choice], **extra
                )
            )

        def usage(event: Completion) -> str:
            return sse(
                ChatCompletionChunk(
                    id=head.id, created=head.created, model=request.model, choices=[], usage=usage_of(event)
                )
            )

        yield chunk(DeltaMessage(role="assistant", content=""))
        async for framed in relay(
            events,
            rest,
            lambda text: chunk(DeltaMessage(content=text)),
            lambda event: chunk(DeltaMessage(), event.finish_reason, hopedit=event.trace),
            usage if request.include_usage_in_stream else None,
        ):
            yield framed

"""POST /v1/chat/completions, streaming and not.

For a hopedit-* model the last user message is the question and the pipeline answers it; for the
base model the whole conversation is rendered with the chat template and generated as is (the
path a LangChain `ChatOpenAI` driving an agent takes, as it would against vLLM).
"""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from agent.server.errors import bad_request
from agent.server.protocol import (
    ChatChoice,
    ChatChunkChoice,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChatCompletionResponse,
    DeltaMessage,
    ResponseMessage,
    Usage,
)
from agent.server.routers.deps import Engine, check_single_choice, sse, stream_pieces
from agent.server.serving import PIPELINES, Completion, ServingEngine

router = APIRouter(tags=["chat"])

_TEMPLATE_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}


def _conversation(request: ChatCompletionRequest) -> list[dict[str, str]]:
    messages = []
    for index, message in enumerate(request.messages):
        if message.role not in _TEMPLATE_ROLES:
            raise bad_request(f"messages[{index}]: role {message.role!r} is not supported", param="messages")
        messages.append({"role": _TEMPLATE_ROLES[message.role], "content": message.text()})
    return messages


def _prompt(engine: ServingEngine, request: ChatCompletionRequest) -> str:
    """The templated prompt; with continue_final_message the last assistant message is left open."""
    messages = _conversation(request)
    if not request.continue_final_message:
        return engine.render_chat(messages, add_generation_prompt=request.add_generation_prompt)
    if messages[-1]["role"] != "assistant":
        raise bad_request("continue_final_message needs a final assistant message", param="messages")
    return engine.render_chat(messages[:-1], add_generation_prompt=True) + messages[-1]["content"]


def _question(request: ChatCompletionRequest) -> str:
    users = [message for message in request.messages if message.role == "user"]
    if not users:
        raise bad_request("a hopedit-* model needs a user message: the question", param="messages")
    return users[-1].text()


def _usage(completion: Completion) -> Usage:
    return Usage(
        prompt_tokens=completion.prompt_tokens,
        completion_tokens=completion.completion_tokens,
        total_tokens=completion.prompt_tokens + completion.completion_tokens,
    )


def _chunks(request: ChatCompletionRequest, completion: Completion) -> Iterator[str]:
    head = ChatCompletionResponse(model=request.model, choices=[], usage=_usage(completion))

    def chunk(delta: DeltaMessage, finish: str | None = None, **extra) -> str:
        choice = ChatChunkChoice(delta=delta, finish_reason=finish)
        return sse(
            ChatCompletionChunk(
                id=head.id, created=head.created, model=request.model, choices=[choice], **extra
            )
        )

    yield chunk(DeltaMessage(role="assistant", content=""))
    for piece in stream_pieces(completion.text):
        yield chunk(DeltaMessage(content=piece))
    yield chunk(DeltaMessage(), completion.finish_reason, hopedit=completion.trace)
    if request.include_usage_in_stream:
        yield sse(
            ChatCompletionChunk(
                id=head.id, created=head.created, model=request.model, choices=[], usage=head.usage
            )
        )
    yield sse("[DONE]")


@router.post("/v1/chat/completions", response_model=ChatCompletionResponse, response_model_exclude_none=True)
async def chat_completions(request: ChatCompletionRequest, engine: Engine):
    check_single_choice(request.n)
    engine.check_model(request.model)
    if request.model in PIPELINES:
        completion = await engine.answer(request.model, _question(request))
    else:
        completion = await engine.generate(
            _prompt(engine, request),
            max_tokens=request.token_budget(engine.config.default_max_tokens),
            stop=request.stops,
            temperature=request.temperature or 0.0,
        )
    if request.stream:
        return StreamingResponse(_chunks(request, completion), media_type="text/event-stream")
    return ChatCompletionResponse(
        model=request.model,
        choices=[
            ChatChoice(
                message=ResponseMessage(content=completion.text), finish_reason=completion.finish_reason
            )
        ],
        usage=_usage(completion),
        hopedit=completion.trace,
    )

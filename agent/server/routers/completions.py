"""POST /v1/completions (legacy text completions), streaming and not.

For the base model the prompt is continued verbatim (no chat template); for a hopedit-* model the
prompt is the question.
"""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from agent.server.protocol import CompletionChoice, CompletionRequest, CompletionResponse, Usage
from agent.server.routers.deps import Engine, check_single_choice, sse, stream_pieces
from agent.server.serving import PIPELINES, Completion

router = APIRouter(tags=["completions"])


def _response(request: CompletionRequest, completion: Completion, text: str) -> CompletionResponse:
    usage = Usage(
        prompt_tokens=completion.prompt_tokens,
        completion_tokens=completion.completion_tokens,
        total_tokens=completion.prompt_tokens + completion.completion_tokens,
    )
    choice = CompletionChoice(text=text, finish_reason=completion.finish_reason)
    return CompletionResponse(model=request.model, choices=[choice], usage=usage, hopedit=completion.trace)


def _chunks(request: CompletionRequest, completion: Completion, text: str) -> Iterator[str]:
    final = _response(request, completion, text)

    def chunk(piece: str, finish: str | None = None, **extra) -> str:
        choice = CompletionChoice(text=piece, finish_reason=finish)
        return sse(
            CompletionResponse(
                id=final.id, created=final.created, model=request.model, choices=[choice], **extra
            )
        )

    for piece in stream_pieces(text):
        yield chunk(piece)
    yield chunk("", completion.finish_reason, hopedit=completion.trace)
    if request.include_usage_in_stream:
        yield sse(
            CompletionResponse(
                id=final.id, created=final.created, model=request.model, choices=[], usage=final.usage
            )
        )
    yield sse("[DONE]")


@router.post("/v1/completions", response_model=CompletionResponse, response_model_exclude_none=True)
async def completions(request: CompletionRequest, engine: Engine):
    check_single_choice(request.n)
    engine.check_model(request.model)
    prompt = request.prompt_text
    if request.model in PIPELINES:
        completion = await engine.answer(request.model, prompt)
    else:
        completion = await engine.generate(
            prompt,
            max_tokens=request.token_budget(engine.config.default_max_tokens),
            stop=request.stops,
            temperature=request.temperature or 0.0,
        )
    text = prompt + completion.text if request.echo else completion.text
    if request.stream:
        return StreamingResponse(_chunks(request, completion, text), media_type="text/event-stream")
    return _response(request, completion, text)

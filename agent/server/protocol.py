"""Wire models: the subset of the OpenAI schema hopedit serves, plus the facts API.

Request models ignore unknown fields (clients such as LangChain send options we do not use),
response models carry an extra `hopedit` field that OpenAI clients simply ignore.
"""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


def now() -> int:
    return int(time.time())


MAX_STOPS = 16  # OpenAI allows 4; vLLM has no limit and agents written for it may send more

# --- errors -------------------------------------------------------------------------------------


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorDetail


# --- models -------------------------------------------------------------------------------------


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = Field(default_factory=now)
    owned_by: str = "hopedit"
    description: str = ""


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


# --- completions (shared) -----------------------------------------------------------------------


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    stop: str | list[str] | None = None
    n: int = Field(default=1, ge=1)
    stream: bool = False
    stream_options: dict[str, Any] | None = None

    @field_validator("stop")
    @classmethod
    def _stop_list(cls, value: str | list[str] | None) -> list[str] | None:
        if value is None:
            return None
        stops = [value] if isinstance(value, str) else value
        if len(stops) > MAX_STOPS or any(not s for s in stops):
            raise ValueError(f"stop takes at most {MAX_STOPS} non-empty strings")
        return stops

    @property
    def stops(self) -> list[str]:
        return list(self.stop or [])

    def token_budget(self, default: int) -> int:
        return self.max_completion_tokens or self.max_tokens or default

    @property
    def include_usage_in_stream(self) -> bool:
        return bool(self.stream_options and self.stream_options.get("include_usage"))


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class HopeditTrace(BaseModel):
    """What the QA pipeline did: its short answer (what the evaluation compares; the message content is
    what the model wrote), the facts it used and its visible steps."""

    answer: str | None = None
    facts: list[dict[str, Any]]
    steps: list[dict[str, Any]]
    model_calls: int = 0
    timings: dict[str, float] = Field(default_factory=dict)


# --- chat ---------------------------------------------------------------------------------------


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "user", "assistant", "developer", "tool"]
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        """Flatten OpenAI content parts; only text parts mean anything to a text model."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(str(part.get("text", "")) for part in self.content if part.get("type") == "text")


class ChatCompletionRequest(_Request):
    messages: list[ChatMessage] = Field(min_length=1)
    # vLLM's extensions: continue a trailing assistant message (prefill) instead of answering it.
    continue_final_message: bool = False
    add_generation_prompt: bool = True


class ResponseMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class ChatChoice(BaseModel):
    index: int = 0
    message: ResponseMessage
    finish_reason: str
    logprobs: None = None


class ChatCompletionResponse(BaseModel):
    id: str = Field(default_factory=lambda: new_id("chatcmpl"))
    object: Literal["chat.completion"] = "chat.completion"
    created: int = Field(default_factory=now)
    model: str
    choices: list[ChatChoice]
    usage: Usage
    hopedit: HopeditTrace | None = None


class DeltaMessage(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None


class ChatChunkChoice(BaseModel):
    index: int = 0
    delta: DeltaMessage
    finish_reason: str | None = None
    logprobs: None = None


class ChatCompletionChunk(BaseModel):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChatChunkChoice]
    usage: Usage | None = None
    hopedit: HopeditTrace | None = None


# --- text completions ---------------------------------------------------------------------------


class CompletionRequest(_Request):
    prompt: str | list[str]
    echo: bool = False

    @field_validator("prompt")
    @classmethod
    def _one_prompt(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, list) and len(value) != 1:
            raise ValueError("prompt must be one string (a list of exactly one string is accepted)")
        return value

    @property
    def prompt_text(self) -> str:
        return self.prompt if isinstance(self.prompt, str) else self.prompt[0]


class CompletionChoice(BaseModel):
    index: int = 0
    text: str
    finish_reason: str | None
    logprobs: None = None


class CompletionResponse(BaseModel):
    id: str = Field(default_factory=lambda: new_id("cmpl"))
    object: Literal["text_completion"] = "text_completion"
    created: int = Field(default_factory=now)
    model: str
    choices: list[CompletionChoice]
    usage: Usage | None = None
    hopedit: HopeditTrace | None = None


# --- facts --------------------------------------------------------------------------------------


class FactIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: str = Field(min_length=1)
    relation: str = Field(min_length=1)
    object: str = Field(min_length=1)
    sentence: str | None = None
    kind: Literal["edit", "background"] = "edit"


class FactsAddRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    facts: list[FactIn] = Field(min_length=1)


def _facts_body_kind(value: Any) -> str:
    """A body with a `facts` key is a batch; anything else is validated as one fact.

    Picking the model before validating means a single fact with a missing field is reported against
    `FactIn` ("fact.object: Field required"), not as a failed match of every member of the union.
    """
    return "batch" if isinstance(value, dict) and "facts" in value else "fact"


# The body of POST /v1/facts: one fact, or {"facts": [...]}.
FactsBody = Annotated[
    Annotated[FactsAddRequest, Tag("batch")] | Annotated[FactIn, Tag("fact")],
    Discriminator(_facts_body_kind),
]


class FactOut(BaseModel):
    id: str
    subject: str
    relation: str
    object: str
    sentence: str
    kind: str
    source: str
    added_at: float
    active: bool
    superseded_by: str | None = None
    score: float | None = None


class FactsWriteResponse(BaseModel):
    """Returned only after the write is persisted: every id listed here survives a crash."""

    object: Literal["facts.write"] = "facts.write"
    added: list[FactOut]
    superseded: list[FactOut]
    unchanged: list[FactOut]


class FactList(BaseModel):
    object: Literal["list"] = "list"
    data: list[FactOut]


class FactDeleted(BaseModel):
    id: str
    object: Literal["fact"] = "fact"
    deleted: bool = True
    fact: FactOut

"""The local base model as a LangChain chat model, with dynamic batching of concurrent calls.

Agents are written against `BaseChatModel`, so the same agent runs on the in-process model (this
class) or on any served model (`ChatOpenAI(base_url=...)`). LangChain's `.batch()` and evaluation
thread pools call `_generate` once per input from several threads; the `DynamicBatcher` merges those
calls into one `LocalLLM.generate_text` batch, which is where CPU throughput comes from.

A conversation that ends with an AI message is continued, not answered: the partial assistant text
is the start of the reply (prefill, as vLLM's `continue_final_message`). The decomposition agents
rely on this to let the model write one line of a trace, insert a retrieved fact, and go on.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import ConfigDict, Field, PrivateAttr

from agent.batching import BatcherStats, DynamicBatcher
from editor.llm import Generation, LocalLLM

_ROLES = {"system": "system", "human": "user", "ai": "assistant", "chat": "user"}


@dataclass(frozen=True)
class ChatRequest:
    messages: tuple[tuple[str, str], ...]
    max_tokens: int
    stop: tuple[str, ...]
    temperature: float

    def batch_key(self) -> Hashable:
        # One generate call takes one max_new_tokens, one stop list and one temperature.
        return (self.max_tokens, self.stop, self.temperature)


def to_chat_messages(messages: Sequence[BaseMessage]) -> tuple[tuple[str, str], ...]:
    converted = []
    for message in messages:
        role = _ROLES.get(message.type)
        if role is None:
            raise ValueError(f"the local chat model cannot take {message.type!r} messages")
        content = message.content if isinstance(message.content, str) else message.text
        converted.append((role, content))
    return tuple(converted)


class HopeditChatModel(BaseChatModel):
    """Greedy chat completion on hopedit's frozen base model (the unedited model)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    llm: LocalLLM = Field(exclude=True)
    max_tokens: int = 64
    temperature: float = 0.0
    stop: list[str] | None = None
    dynamic_batching: bool = True
    max_batch_size: int = 16
    max_wait_s: float = 0.005
    _batcher: DynamicBatcher[ChatRequest, Generation] | None = PrivateAttr(default=None)

    def model_post_init(self, context: Any) -> None:
        if self.dynamic_batching:
            self._batcher = DynamicBatcher(
                self._run_batch,
                max_batch_size=self.max_batch_size,
                max_wait_s=self.max_wait_s,
                key=ChatRequest.batch_key,
                name="hopedit-chat-batcher",
            )

    @classmethod
    def load(cls, model_spec: str | None = None, **kwargs: Any) -> HopeditChatModel:
        return cls(llm=LocalLLM.load(model_spec), **kwargs)

    @property
    def _llm_type(self) -> str:
        return "hopedit-local"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "model_name": self.llm.model_id,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
        }

    def batcher_stats(self) -> BatcherStats | None:
        return self._batcher.stats() if self._batcher else None

    def render(self, messages: tuple[tuple[str, str], ...]) -> str:
        """The templated prompt; a trailing assistant message is left open for the model to continue."""
        prefill = ""
        if messages and messages[-1][0] == "assistant":
            prefill = messages[-1][1]
            messages = messages[:-1]
        return self.llm.render_chat([{"role": r, "content": c} for r, c in messages]) + prefill

    def _run_batch(self, requests: list[ChatRequest]) -> list[Generation]:
        first = requests[0]
        return self.llm.generate_text(
            [self.render(request.messages) for request in requests],
            max_new_tokens=first.max_tokens,
            stop=list(first.stop),
            temperature=first.temperature,
        )

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        request = ChatRequest(
            messages=to_chat_messages(messages),
            max_tokens=int(kwargs.get("max_tokens", self.max_tokens)),
            stop=tuple(stop if stop is not None else self.stop or ()),
            temperature=float(kwargs.get("temperature", self.temperature)),
        )
        if self._batcher is not None:
            generation = self._batcher.submit(request)
        else:
            generation = self._run_batch([request])[0]
        usage = {
            "input_tokens": generation.prompt_tokens,
            "output_tokens": generation.completion_tokens,
            "total_tokens": generation.prompt_tokens + generation.completion_tokens,
        }
        info = {
            "finish_reason": generation.finish_reason,
            "prompt_tokens": generation.prompt_tokens,
            "completion_tokens": generation.completion_tokens,
            "model_name": self.llm.model_id,
        }
        message = AIMessage(content=generation.text, usage_metadata=usage, response_metadata=dict(info))
        return ChatResult(
            generations=[ChatGeneration(message=message, generation_info=info)],
            llm_output={"token_usage": usage, "model_name": self.llm.model_id},
        )

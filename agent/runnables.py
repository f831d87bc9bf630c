"""Pieces the LangChain-driven agents share: a continuation chain and a thread-pooled batch.

Decomposition agents (MeLLo, PokeMQA) write a trace line by line and insert retrieved facts between
model calls. Each call is one runnable, `prompt | chat model | parser`, whose prompt (demonstrations
as earlier chat turns) ends with the trace so far as an AI message that the model continues
(prefill). `answer_batch` runs one question per thread: the chat model's dynamic batcher (or a
served model's) merges the concurrent calls.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable

PROMPTS_DIR = Path(__file__).parent / "prompts"
# Threads that submit at once: enough for one full LocalLLM batch (max_batch_size=16).
BATCH_CONCURRENCY = 16
T = TypeVar("T")


def read_prompt(name: str) -> str:
    return (PROMPTS_DIR / name).read_text().strip()


def demonstration_turns(demos: str) -> list[BaseMessage]:
    """Blank-line separated demos, each "Question: ..." then its trace, as user/assistant turns.

    A small chat model copies the format of whole assistant turns far better than of examples pasted
    into one user message.
    """
    turns: list[BaseMessage] = []
    for block in demos.strip().split("\n\n"):
        question, trace = block.strip().split("\n", 1)
        turns += [HumanMessage(question.strip()), AIMessage(trace.strip())]
    return turns


def continuation_chain(
    chat_model: BaseChatModel,
    system: str,
    demos: str,
    stop: Sequence[str],
    max_tokens: int,
    model_kwargs: Mapping[str, Any] | None = None,
) -> Runnable:
    """Runnable taking {question, trace} and returning the model's continuation of the trace."""
    prompt = ChatPromptTemplate.from_messages(
        [
            SystemMessage(system),
            *demonstration_turns(demos),
            ("human", "Question: {question}"),
            ("ai", "{trace}"),
        ]
    )
    bound = chat_model.bind(stop=list(stop), max_tokens=max_tokens, **dict(model_kwargs or {}))
    return prompt | bound | StrOutputParser()


def threaded_map(
    function: Callable[[str], T], questions: Sequence[str], max_workers: int = BATCH_CONCURRENCY
) -> list[T]:
    if len(questions) <= 1:
        return [function(q) for q in questions]
    with ThreadPoolExecutor(max_workers=min(max_workers, len(questions))) as pool:
        return list(pool.map(function, questions))


def append_output(trace: str, output: str) -> str:
    """Join a continuation to the trace; servers differ in whether they strip the leading space."""
    output = output.strip()
    if not output:
        return trace
    joined = not trace or trace[-1].isspace() or output[0] in ",.;:!?"
    return trace + ("" if joined else " ") + output

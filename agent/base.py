"""The one interface every question-answering method implements."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

from memory.facts import Fact


@dataclass
class Step:
    """One visible reasoning step of an agent (a subquestion, a retrieval, a decision)."""

    kind: str  # e.g. "retrieve", "subquestion", "generate", "check", "gate"
    text: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Answer:
    text: str
    facts_used: list[Fact] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per phase
    model_calls: int = 0
    # Tokens the model read (prompts, retrieved facts included) and wrote, over all its calls; 0 when
    # the agent does not count them.
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@runtime_checkable
class Agent(Protocol):
    name: str

    def answer(self, question: str) -> Answer: ...

    def answer_batch(self, questions: list[str]) -> list[Answer]: ...

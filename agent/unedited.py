"""The `base` method: the unedited model without memory, the floor every editing method must beat."""

from __future__ import annotations

import time
from pathlib import Path

import yaml
from langchain_core.language_models import BaseChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

from agent.answers import short_answer
from agent.base import Answer, Step
from agent.runnables import BATCH_CONCURRENCY, PROMPTS_DIR


class UneditedAgent:
    name = "base"

    def __init__(
        self, chat_model: BaseChatModel, *, max_tokens: int = 24, prompt_file: Path | None = None
    ) -> None:
        spec = yaml.safe_load((prompt_file or PROMPTS_DIR / "base.yaml").read_text())
        prompt = ChatPromptTemplate.from_messages([("system", spec["system"]), ("human", "{question}")])
        self.chain = prompt | chat_model.bind(max_tokens=max_tokens, stop=["\n"]) | StrOutputParser()

    def answer_batch(self, questions: list[str]) -> list[Answer]:
        started = time.perf_counter()
        inputs = [{"question": q} for q in questions]
        outputs = self.chain.batch(inputs, config={"max_concurrency": BATCH_CONCURRENCY})
        seconds = (time.perf_counter() - started) / max(len(questions), 1)
        return [
            Answer(short_answer(out), [], [Step("generate", out)], {"generate": seconds}, model_calls=1)
            for out in outputs
        ]

    def answer(self, question: str) -> Answer:
        return self.answer_batch([question])[0]

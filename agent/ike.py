"""IKE-style in-context editing: retrieved facts and a few demonstrations in the unedited model's prompt.

The baseline for what prompting alone does with the same memory: no decomposition, no prefixes. The
demonstrations (agent/prompts/ike.yaml) show that a listed fact overrides what the model believes and
that the reply is a short answer. Demonstrations are chat turns, so any chat model can run it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import yaml
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate, HumanMessagePromptTemplate

from agent.answers import short_answer
from agent.base import Answer, Step
from agent.runnables import BATCH_CONCURRENCY, PROMPTS_DIR
from memory.facts import Retrieval

QUESTION_TEMPLATE = "New facts:\n{facts}\nQuestion: {question}"


def format_facts(sentences: list[str]) -> str:
    return "\n".join(f"- {s}" for s in sentences) if sentences else "- (none)"


def demonstration_messages(path: Path) -> list[BaseMessage]:
    spec = yaml.safe_load(path.read_text())
    messages: list[BaseMessage] = [SystemMessage(spec["system"])]
    for demo in spec.get("demonstrations", []):
        body = QUESTION_TEMPLATE.format(facts=format_facts(demo["facts"]), question=demo["question"])
        messages += [HumanMessage(body), AIMessage(demo["answer"])]
    return messages


class IKEAgent:
    name = "ike"

    def __init__(
        self,
        memory: Any,
        chat_model: BaseChatModel,
        *,
        strategy: str = "chain",
        top_n: int = 4,
        max_tokens: int = 24,
        prompt_file: Path | None = None,
    ) -> None:
        self.memory = memory
        self.strategy = strategy
        self.top_n = top_n
        prompt = ChatPromptTemplate.from_messages(
            [
                *demonstration_messages(prompt_file or PROMPTS_DIR / "ike.yaml"),
                HumanMessagePromptTemplate.from_template(QUESTION_TEMPLATE),
            ]
        )
        self.chain = prompt | chat_model.bind(max_tokens=max_tokens, stop=["\n"]) | StrOutputParser()

    def retrieve(self, question: str) -> Retrieval:
        return self.memory.retrieve(question, strategy=self.strategy)

    def answer_batch(self, questions: list[str]) -> list[Answer]:
        started = time.perf_counter()
        retrievals = [self.retrieve(q) for q in questions]
        retrieved = time.perf_counter()
        facts = [r.facts[: self.top_n] if not r.gated else [] for r in retrievals]
        inputs = [
            {"facts": format_facts([f.fact.sentence for f in fs]), "question": q}
            for q, fs in zip(questions, facts, strict=True)
        ]
        outputs = self.chain.batch(inputs, config={"max_concurrency": BATCH_CONCURRENCY})
        generated = time.perf_counter()
        per_question = {
            "retrieve": (retrieved - started) / max(len(questions), 1),
            "generate": (generated - retrieved) / max(len(questions), 1),
        }
        answers = []
        for retrieval, scored, output in zip(retrievals, facts, outputs, strict=True):
            steps = [
                Step(
                    "retrieve",
                    format_facts([f.fact.sentence for f in scored]),
                    {
                        "strategy": self.strategy,
                        "gated": retrieval.gated,
                        "facts": [{"fact_id": f.fact.id, "score": f.score} for f in scored],
                    },
                ),
                Step("generate", output),
            ]
            used = [f.fact for f in scored]
            answers.append(Answer(short_answer(output), used, steps, dict(per_question), model_calls=1))
        return answers

    def answer(self, question: str) -> Answer:
        return self.answer_batch([question])[0]

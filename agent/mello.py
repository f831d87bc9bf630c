"""MeLLo (Zhong et al. 2023): the model decomposes the question, memory edits correct each hop.

Per step the model writes a subquestion and its own tentative answer; generation stops where the
paper's prompt says "Retrieved fact:", the memory supplies its top-1 fact for the subquestion (an
edit, or a background fact when the memory also holds a knowledge graph, as for every other method),
and the model judges whether that fact contradicts its tentative answer, which gives the hop's
intermediate answer. After at most `max_steps` retrievals the model writes "Final answer:". The
model is the unedited base model: edits reach it only through the retrieved facts.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any

from langchain_core.language_models import BaseChatModel

from agent.answers import short_answer
from agent.base import Answer, Step
from agent.runnables import append_output, continuation_chain, read_prompt, threaded_map
from memory.facts import Fact

SYSTEM = (
    "Answer the question step by step in the format of the examples. After each retrieved fact, say "
    "whether it contradicts your generated answer and give the intermediate answer."
)
RETRIEVED = "Retrieved fact:"
CHECK_OPENING = "Retrieved fact"
_LINE = re.compile(r"^(Subquestion|Generated answer|Final answer):\s*(.*)$", re.MULTILINE)
_CHECK = re.compile(r"^Retrieved fact (does not contradict|contradicts).*?answer is:\s*(.*)$", re.MULTILINE)


class MelloAgent:
    name = "mello"

    def __init__(
        self,
        memory: Any,
        chat_model: BaseChatModel,
        *,
        max_steps: int = 4,
        max_tokens: int = 64,
        demos: str | None = None,
        model_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        self.memory = memory
        self.max_steps = max_steps
        self.chain = continuation_chain(
            chat_model,
            SYSTEM,
            demos or read_prompt("mello.txt"),
            [RETRIEVED, "\nQuestion:", "\n\n"],
            max_tokens,
            model_kwargs,
        )

    def top_fact(self, subquestion: str) -> tuple[Fact, float] | None:
        hits = self.memory.search(subquestion, k=1)
        return (hits[0].fact, hits[0].score) if hits else None

    def answer(self, question: str) -> Answer:
        started = time.perf_counter()
        timings = {"generate": 0.0, "retrieve": 0.0}
        steps: list[Step] = []
        used: dict[str, Fact] = {}
        trace = "Subquestion:"
        calls = 0
        final: str | None = None
        last_intermediate = ""
        last_generated = ""  # the model's own answer to the latest subquestion
        for retrievals in range(self.max_steps + 1):
            t0 = time.perf_counter()
            output = self.chain.invoke({"question": question, "trace": trace})
            timings["generate"] += time.perf_counter() - t0
            calls += 1
            before = trace
            trace = append_output(trace, output)
            segment = trace[before.rfind("\n") + 1 :]
            for check in _CHECK.finditer(segment):
                last_intermediate = short_answer(check.group(2))
                steps.append(
                    Step(
                        "check",
                        check.group(0),
                        {"contradicts": check.group(1) == "contradicts", "answer": last_intermediate},
                    )
                )
            lines = {label: value.strip() for label, value in _LINE.findall(segment)}
            if "Final answer" in lines:
                final = short_answer(lines["Final answer"])
                break
            subquestion = lines.get("Subquestion")
            if not subquestion or retrievals == self.max_steps:
                break
            generated = lines.get("Generated answer", "")
            last_generated = short_answer(generated)
            steps.append(Step("subquestion", subquestion, {"generated_answer": generated}))
            t0 = time.perf_counter()
            hit = self.top_fact(subquestion)
            timings["retrieve"] += time.perf_counter() - t0
            if hit is None:
                sentence = "No fact found."
                steps.append(Step("retrieve", sentence, {"query": subquestion}))
            else:
                fact, score = hit
                sentence = fact.sentence
                used.setdefault(fact.id, fact)
                data = {"query": subquestion, "fact_id": fact.id, "score": score}
                steps.append(Step("retrieve", sentence, data))
            # The next line is always the check line; opening it steers the model there.
            trace = trace.rstrip("\n") + f"\n{RETRIEVED} {sentence}\n{CHECK_OPENING}"
        # A small model sometimes breaks the format (no check line, no final answer): fall back to the
        # latest intermediate answer, else to its own answer to the latest subquestion.
        text, source = next(
            (value, name)
            for value, name in (
                (final, "final answer"),
                (last_intermediate or None, "last intermediate answer"),
                (last_generated, "generated answer to the last subquestion (no check line)"),
            )
            if value is not None
        )
        steps.append(Step("final", text, {"from": source}))
        timings["total"] = time.perf_counter() - started
        return Answer(text, list(used.values()), steps, timings, model_calls=calls)

    def answer_batch(self, questions: list[str]) -> list[Answer]:
        return threaded_map(self.answer, questions)

"""The InstructEd pipeline: retrieve the fact chain, answer in one generation of the prefix-edited model.

When the relevance gate finds nothing relevant in the memory, the question goes to the unedited
model, so a memory full of unrelated edits cannot disturb answers it has no bearing on.

The editor's entity test (a question reads its facts only if it names one of their entities) is used
only for questions known to be one-hop (`n_hops=1`). A multi-hop question names the start of its chain
and only describes the rest, and with edits alone in memory the retrieved facts are often about those
described entities ("the CEO of HBO" for a question about the broadcaster of a writer's show): the
test would mute exactly the edits the question needs.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from agent.answer_check import ChainAnswerCheck
from agent.answers import short_answer
from agent.base import Answer, Step
from editor.decoding import TokenHook
from editor.instructed import InstructEdEditor
from editor.llm import Generation
from memory.facts import Retrieval


class InstructedAgent:
    name = "instructed"

    def __init__(
        self,
        memory: Any,
        editor: InstructEdEditor,
        *,
        strategy: str = "chain",
        n_hops: int | None = None,
        reweight: bool = True,
        max_new_tokens: int = 24,
        answer_check: ChainAnswerCheck | None = None,
    ) -> None:
        """`answer_check` compares the model's answer with the retrieved chain (None: no check)."""
        self.memory = memory
        self.editor = editor
        self.strategy = strategy
        self.n_hops = n_hops
        self.reweight = reweight
        self.max_new_tokens = max_new_tokens
        self.answer_check = answer_check

    def answer(self, question: str) -> Answer:
        return self.answer_batch([question])[0]

    def answer_batch(
        self,
        questions: list[str],
        *,
        max_new_tokens: int | None = None,
        stop: Sequence[str] = (),
        temperature: float = 0.0,
        on_token: TokenHook | None = None,
    ) -> list[Answer]:
        """Answers in one generation each. The server passes a request's `max_new_tokens`, `stop` and
        `temperature`, and `on_token(i, ids)` to stream question i's tokens as they are generated."""
        started = time.perf_counter()
        retrievals: list[Retrieval] = [self.memory.retrieve(q, self.n_hops, self.strategy) for q in questions]
        retrieve_seconds = (time.perf_counter() - started) / max(len(questions), 1)
        edited = [i for i, r in enumerate(retrievals) if not r.gated and r.facts]
        unedited = sorted(set(range(len(questions))) - set(edited))
        options = {
            "max_new_tokens": max_new_tokens or self.max_new_tokens,
            "stop": stop,
            "temperature": temperature,
        }
        generations: dict[int, Generation] = {}
        started = time.perf_counter()
        if edited:
            results = self.editor.answer(
                [questions[i] for i in edited],
                [retrievals[i].sentences for i in edited],
                [retrievals[i].entities for i in edited] if self.n_hops == 1 else None,
                reweight=self.reweight,
                on_token=_rows_to(edited, on_token),
                **options,
            )
            generations.update(zip(edited, results, strict=True))
        if unedited:
            results = self.editor.answer(
                [questions[i] for i in unedited],
                [[] for _ in unedited],
                use_prefixes=False,
                on_token=_rows_to(unedited, on_token),
                **options,
            )
            generations.update(zip(unedited, results, strict=True))
        generate_seconds = (time.perf_counter() - started) / max(len(questions), 1)
        return [
            self._answer(retrievals[i], generations[i], i in edited, retrieve_seconds, generate_seconds)
            for i in range(len(questions))
        ]

    def _answer(
        self, retrieval: Retrieval, generation: Generation, edited: bool, retrieve_s: float, generate_s: float
    ) -> Answer:
        text = generation.text
        facts = [scored.fact for scored in retrieval.facts] if edited else []
        retrieved = Step(
            "retrieve",
            f"{len(retrieval.facts)} fact(s) by {self.strategy} retrieval",
            {
                "facts": [
                    {"sentence": s.fact.sentence, "id": s.fact.id, "score": s.score} for s in retrieval.facts
                ],
                "top_scores": retrieval.top_scores,
            },
        )
        decided_by = retrieval.evidence.get("decided_by", "")
        gate = Step(
            "gate",
            (
                "relevant: answer with the facts as instructions"
                if edited
                else "nothing relevant: unedited model"
            )
            + (f" ({decided_by})" if decided_by else ""),
            {"gated": retrieval.gated, "evidence": retrieval.evidence},
        )
        generated = Step(
            "generate",
            text,
            {
                "prefixes": edited,
                "reweight": self.reweight and edited,
                "finish_reason": generation.finish_reason,
            },
        )
        steps = [retrieved, gate, generated]
        answer = short_answer(text)
        if edited and self.answer_check is not None:
            checked = self.answer_check.run(answer, facts)
            if checked.changed:
                steps.append(
                    Step(
                        "check",
                        f"{checked.text} ({checked.reason})",
                        {"rule": checked.rule, "reason": checked.reason},
                    )
                )
                answer = checked.text
        return Answer(
            text=answer,
            facts_used=facts,
            steps=steps,
            timings={"retrieve": retrieve_s, "generate": generate_s},
            model_calls=1,
            prompt_tokens=generation.prompt_tokens,
            completion_tokens=generation.completion_tokens,
        )


def _rows_to(indices: list[int], hook: TokenHook | None) -> TokenHook | None:
    """The hook for a sub-batch whose row r is question indices[r] of the caller's batch."""
    if hook is None:
        return None
    return lambda row, ids: hook(indices[row], ids)

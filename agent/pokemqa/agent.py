"""PokeMQA (Gu et al. 2024): decomposition where a trained scope detector, not the model, applies edits.

The model writes one subquestion at a time. Before it answers, the memory's nearest facts for that
subquestion (edits, and background facts when the memory also holds a knowledge graph, as for every other
method) go through the scope detector: if one is in scope, its statement becomes the hop's
answer and the model is not asked; otherwise the model answers the subquestion itself. Keeping the
in-scope decision out of the prompt is the paper's point: a small model cannot be trusted to judge
conflicts between its belief and an edit. An optional knowledge prompt (a description of the
question's subject) goes into the prompt as "Entity of Question:".
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any

from langchain_core.language_models import BaseChatModel

from agent.answers import short_answer
from agent.base import Answer, Step
from agent.pokemqa.detector import ScopeDecision, ScopeDetector
from agent.runnables import append_output, continuation_chain, read_prompt, threaded_map
from memory.facts import Fact

SYSTEM = "Answer the question step by step in the format of the examples, one subquestion at a time."
ENTITY = "Entity of Question:"
_SUBQUESTION = re.compile(r"Subquestion:\s*(.*)")
_FINAL = re.compile(r"Final answer:\s*(.*)")


def candidate_table(candidates: list[Fact], decision: ScopeDecision) -> list[dict[str, Any]]:
    scores = zip(candidates, decision.in_scope_prob, decision.rank_score, strict=True)
    return [
        {"fact_id": f.id, "sentence": f.sentence, "in_scope_prob": p, "rank_score": r} for f, p, r in scores
    ]


class PokeMQAAgent:
    name = "pokemqa"

    def __init__(
        self,
        memory: Any,
        chat_model: BaseChatModel,
        *,
        detector: ScopeDetector | None = None,
        kgprompt: Mapping[str, str] | None = None,
        max_steps: int = 5,
        max_tokens: int = 48,
        candidates: int = 5,
        demos: str | None = None,
        model_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        """`kgprompt` maps a question's text to its knowledge prompt (the evaluator builds it per case)."""
        self.memory = memory
        self.detector = detector or ScopeDetector.load()
        self.kgprompt = dict(kgprompt or {})
        self.max_steps = max_steps
        self.candidates = candidates
        demos = demos or read_prompt("pokemqa.txt")
        plain = "\n".join(line for line in demos.splitlines() if not line.startswith(ENTITY))
        stops = ["\nQuestion:", "\n\n"]
        # With a knowledge prompt the demonstrations show one; without, they do not.
        self.chains = {
            with_entity: {
                name: continuation_chain(chat_model, SYSTEM, text, [stop, *stops], max_tokens, model_kwargs)
                for name, stop in (("next_line", "Generated answer:"), ("hop_answer", "\n"))
            }
            for with_entity, text in ((True, demos), (False, plain))
        }

    def fact_candidates(self, subquestion: str) -> list[Fact]:
        return [scored.fact for scored in self.memory.search(subquestion, k=self.candidates)]

    def answer(self, question: str, knowledge: str | None = None) -> Answer:
        started = time.perf_counter()
        timings = {"generate": 0.0, "retrieve": 0.0, "detect": 0.0}
        knowledge = knowledge if knowledge is not None else self.kgprompt.get(question)
        chains = self.chains[bool(knowledge)]
        steps: list[Step] = []
        if knowledge:
            steps.append(Step("knowledge", knowledge))
        trace = f"{ENTITY} {knowledge}\n" if knowledge else ""
        used: dict[str, Fact] = {}
        calls = 0
        final: str | None = None
        last_hop = ""

        def generate(chain: str, prefill: str) -> str:
            nonlocal calls
            t0 = time.perf_counter()
            output = chains[chain].invoke({"question": question, "trace": prefill})
            timings["generate"] += time.perf_counter() - t0
            calls += 1
            return output

        for hop in range(self.max_steps):
            # The first line is always a subquestion; later the model chooses another one or the end.
            opening = "Subquestion:" if hop == 0 else ""
            line = append_output(opening, generate("next_line", trace + opening))
            if (match := _FINAL.search(line)) is not None:
                final = short_answer(match.group(1))
                break
            match = _SUBQUESTION.search(line)
            text = (match.group(1) if match else line).strip()
            subquestion = text.splitlines()[0].strip() if text else ""
            if not subquestion:
                break
            steps.append(Step("subquestion", subquestion))
            t0 = time.perf_counter()
            candidates = self.fact_candidates(subquestion)
            timings["retrieve"] += time.perf_counter() - t0
            t0 = time.perf_counter()
            decision = self.detector.decide(subquestion, [fact.sentence for fact in candidates])
            timings["detect"] += time.perf_counter() - t0
            threshold = self.detector.threshold
            table = {"candidates": candidate_table(candidates, decision), "threshold": threshold}
            steps.append(Step("retrieve", f"{len(candidates)} candidate facts", table))
            trace += f"Subquestion: {subquestion}\nGenerated answer:"
            if decision.chosen is not None:
                fact = candidates[decision.chosen]
                used.setdefault(fact.id, fact)
                last_hop = fact.object
                trace += f" {fact.sentence}\n"
                steps.append(
                    Step("edit", fact.sentence, {"in_scope": True, "fact_id": fact.id, "answer": fact.object})
                )
            else:
                generated = generate("hop_answer", trace).strip().splitlines()
                generated_line = generated[0] if generated else ""
                last_hop = short_answer(generated_line)
                trace = append_output(trace, generated_line) + "\n"
                steps.append(Step("generate", generated_line, {"in_scope": False, "answer": last_hop}))
        text = final if final is not None else last_hop
        source = "final answer" if final is not None else "last hop answer"
        steps.append(Step("final", text, {"from": source}))
        timings["total"] = time.perf_counter() - started
        return Answer(text, list(used.values()), steps, timings, model_calls=calls)

    def answer_batch(self, questions: list[str]) -> list[Answer]:
        return threaded_map(self.answer, questions)

"""What the InstructEd pipeline hands the editor: the entity test only for questions known to be one-hop."""

from __future__ import annotations

from agent.instructed import InstructedAgent
from editor.llm import Generation
from memory.facts import Fact, Retrieval, ScoredFact

HBO_CEO = Fact(
    "HBO", "chief executive officer", "Chris Beard", "The chief executive officer of HBO is Chris Beard."
)


class OneFactMemory:
    def retrieve(self, question: str, n_hops: int | None, strategy: str) -> Retrieval:
        return Retrieval([ScoredFact(HBO_CEO, 0.6)], gated=False)


class RecordingEditor:
    def __init__(self) -> None:
        self.entities: list = []

    def answer(self, questions, facts, entities=None, **switches) -> list[Generation]:
        self.entities.append(entities)
        return [Generation("Chris Beard", 1, 1, "stop") for _ in questions]


def test_multi_hop_questions_skip_the_entity_test_and_one_hop_questions_get_it():
    question = "Who is the chief executive officer of the original broadcaster of True Detective?"
    editor = RecordingEditor()
    InstructedAgent(OneFactMemory(), editor).answer(question)
    InstructedAgent(OneFactMemory(), editor, n_hops=1).answer(question)
    assert editor.entities == [None, [["HBO", "Chris Beard"]]]

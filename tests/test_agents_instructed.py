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


class ChainMemory:
    """A two-fact chain; `gated` says whether the gate sends the question to the unedited model."""

    def __init__(self, gated: bool = False) -> None:
        self.gated = gated

    def retrieve(self, question: str, n_hops: int | None, strategy: str) -> Retrieval:
        founder = Fact("Tirquum Group", "founded by", "Brouthlex Murniom")
        spouse = Fact("Brouthlex Murniom", "spouse", "Pithpour Shoulpothsal")
        return Retrieval([ScoredFact(founder, 0.5), ScoredFact(spouse, 0.5)], gated=self.gated)


class FixedEditor:
    def __init__(self, text: str) -> None:
        self.text = text

    def answer(self, questions, facts, entities=None, **switches) -> list[Generation]:
        return [Generation(self.text, 1, 1, "stop") for _ in questions]


def test_the_answer_check_continues_a_stopped_chain_and_leaves_the_model_text_in_the_trace():
    from agent.answer_check import ChainAnswerCheck

    question = "Who is the person who founded Tirquum Group married to?"
    agent = InstructedAgent(ChainMemory(), FixedEditor("Brouthlex Murniom"), answer_check=ChainAnswerCheck())
    answer = agent.answer(question)
    assert answer.text == "Pithpour Shoulpothsal"
    assert [step.kind for step in answer.steps] == ["retrieve", "gate", "generate", "check"]
    assert answer.steps[2].text == "Brouthlex Murniom" and answer.steps[3].data["rule"] == "continue"
    assert (
        answer.steps[3].text.startswith("Pithpour Shoulpothsal (") and "names hop 1" in answer.steps[3].text
    )
    # Without the check (the ablation), or when the gate sent the question to the unedited model, the
    # model's answer stands.
    unchecked = InstructedAgent(ChainMemory(), FixedEditor("Brouthlex Murniom")).answer(question)
    assert unchecked.text == "Brouthlex Murniom"
    gated = InstructedAgent(
        ChainMemory(gated=True), FixedEditor("Brouthlex Murniom"), answer_check=ChainAnswerCheck()
    )
    assert gated.answer(question).text == "Brouthlex Murniom"

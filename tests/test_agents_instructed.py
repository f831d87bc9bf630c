"""What the InstructEd pipeline hands the editor (the entity test only for questions known to be one-hop),
and how it checks the editor's answer against the retrieved chain."""

from __future__ import annotations

from agent.instructed import InstructedAgent
from editor.llm import Generation
from memory.facts import Fact, Retrieval, ScoredFact

HBO_CEO = Fact(
    "HBO", "chief executive officer", "Chris Beard", "The chief executive officer of HBO is Chris Beard."
)


FOUNDED_BY = Fact("Tirquum Group", "founded by", "Brouthlex Murniom")
SPOUSE = Fact("Brouthlex Murniom", "spouse", "Pithpour Shoulpothsal")


class FixedMemory:
    """Retrieves the same facts for every question; `gated` says whether the gate sends the question to
    the unedited model."""

    def __init__(self, *facts: Fact, gated: bool = False) -> None:
        self.facts = facts
        self.gated = gated

    def retrieve(self, question: str, n_hops: int | None, strategy: str) -> Retrieval:
        return Retrieval([ScoredFact(fact, 0.5) for fact in self.facts], gated=self.gated)


class FixedEditor:
    """Answers every question with `text`, recording the entities each call handed it."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.entities: list = []

    def answer(self, questions, facts, entities=None, **switches) -> list[Generation]:
        self.entities.append(entities)
        return [Generation(self.text, 1, 1, "stop") for _ in questions]


def test_multi_hop_questions_skip_the_entity_test_and_one_hop_questions_get_it():
    question = "Who is the chief executive officer of the original broadcaster of True Detective?"
    editor = FixedEditor("Chris Beard")
    InstructedAgent(FixedMemory(HBO_CEO), editor).answer(question)
    InstructedAgent(FixedMemory(HBO_CEO), editor, n_hops=1).answer(question)
    assert editor.entities == [None, [["HBO", "Chris Beard"]]]


def test_the_answer_check_continues_a_stopped_chain_and_leaves_the_model_text_in_the_trace():
    from agent.answer_check import ChainAnswerCheck

    question = "Who is the person who founded Tirquum Group married to?"
    agent = InstructedAgent(
        FixedMemory(FOUNDED_BY, SPOUSE), FixedEditor("Brouthlex Murniom"), answer_check=ChainAnswerCheck()
    )
    answer = agent.answer(question)
    assert answer.text == "Pithpour Shoulpothsal"
    assert [step.kind for step in answer.steps] == ["retrieve", "gate", "generate", "check"]
    assert answer.steps[2].text == "Brouthlex Murniom" and answer.steps[3].data["rule"] == "continue"
    assert (
        answer.steps[3].text.startswith("Pithpour Shoulpothsal (") and "names hop 1" in answer.steps[3].text
    )
    # Without the check (the ablation), or when the gate sent the question to the unedited model, the
    # model's answer stands.
    unchecked = InstructedAgent(FixedMemory(FOUNDED_BY, SPOUSE), FixedEditor("Brouthlex Murniom")).answer(
        question
    )
    assert unchecked.text == "Brouthlex Murniom"
    gated = InstructedAgent(
        FixedMemory(FOUNDED_BY, SPOUSE, gated=True),
        FixedEditor("Brouthlex Murniom"),
        answer_check=ChainAnswerCheck(),
    )
    assert gated.answer(question).text == "Brouthlex Murniom"


def test_the_server_serves_the_models_text_and_traces_the_checked_answer():
    from agent.answer_check import ChainAnswerCheck
    from agent.server.generation import completion_of

    question = "Who is the person who founded Tirquum Group married to?"
    agent = InstructedAgent(
        FixedMemory(FOUNDED_BY, SPOUSE), FixedEditor("Brouthlex Murniom"), answer_check=ChainAnswerCheck()
    )
    completion = completion_of(agent.answer(question))
    # What was streamed is what is served; the trace holds the pipeline's answer and the check's step.
    assert completion.text == "Brouthlex Murniom" and completion.finish_reason == "stop"
    assert completion.trace.answer == "Pithpour Shoulpothsal"
    assert [step["kind"] for step in completion.trace.steps][-1] == "check"

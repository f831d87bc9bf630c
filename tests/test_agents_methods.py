"""Every method on a tiny memory of invented facts, with the real local model and real Chroma."""

from __future__ import annotations

import pytest
from helpers_agents import INVENTED_FACTS, MULTI_HOP_QUESTION, invented_memory
from langchain_openai import ChatOpenAI

from agent.base import Agent
from agent.factory import METHODS, build_agent, build_llm
from agent.langchain_llm import HopeditChatModel
from agent.langchain_memory import ACTIVE_ONLY, MemoryRetriever, memory_vectorstore

CEO_FACT = "The CEO of Quorvex Systems is Lina Marsh."


@pytest.fixture(scope="module")
def memory(tmp_path_factory):
    return invented_memory(tmp_path_factory.mktemp("agents-memory"))


@pytest.fixture(scope="module")
def chat_model() -> HopeditChatModel:
    return build_llm(None, None, None)


def memory_ids(memory) -> set[str]:
    return {fact.id for fact in memory.facts()}


@pytest.mark.slow
@pytest.mark.ci
def test_mello_trace_has_subquestions_retrievals_and_checks(memory, chat_model) -> None:
    agent = build_agent("mello", memory=memory, chat_model=chat_model)
    before = chat_model.llm.calls
    answer = agent.answer(MULTI_HOP_QUESTION)
    kinds = [step.kind for step in answer.steps]
    assert "subquestion" in kinds and "retrieve" in kinds
    assert kinds[-1] == "final" and answer.steps[-1].text == answer.text
    retrieved = [s.data["fact_id"] for s in answer.steps if s.kind == "retrieve"]
    assert retrieved and set(retrieved) <= memory_ids(memory)
    assert {f.id for f in answer.facts_used} == set(retrieved)
    # The retrieval is for the subquestion the model wrote just before it.
    for sub, ret in zip(answer.steps, answer.steps[1:], strict=False):
        if sub.kind == "subquestion":
            assert ret.kind == "retrieve" and ret.data["query"] == sub.text
    assert 2 <= answer.model_calls <= agent.max_steps + 1
    assert chat_model.llm.calls - before == answer.model_calls


@pytest.mark.slow
@pytest.mark.ci
def test_pokemqa_applies_an_in_scope_edit_instead_of_asking_the_model(memory, chat_model) -> None:
    agent = build_agent("pokemqa", memory=memory, chat_model=chat_model)
    answer = agent.answer("Who is the CEO of Quorvex Systems?")
    subquestions = [s for s in answer.steps if s.kind == "subquestion"]
    assert subquestions
    retrievals = [s for s in answer.steps if s.kind == "retrieve"]
    assert retrievals and all(c["fact_id"] in memory_ids(memory) for c in retrievals[0].data["candidates"])
    edits = [s for s in answer.steps if s.kind == "edit"]
    assert [s.text for s in edits][:1] == [CEO_FACT]
    assert edits[0].data["answer"] == "Lina Marsh"
    assert CEO_FACT in [f.sentence for f in answer.facts_used]


@pytest.mark.slow
def test_pokemqa_knowledge_prompt_enters_the_trace(memory, chat_model) -> None:
    question = "Who designed the Ostrel Tower?"
    knowledge = "Ostrel Tower, a 1970s office tower."
    agent = build_agent("pokemqa", memory=memory, chat_model=chat_model, kgprompt={question: knowledge})
    answer = agent.answer(question)
    assert answer.steps[0].kind == "knowledge" and answer.steps[0].text == knowledge
    assert answer.model_calls >= 1


@pytest.mark.slow
def test_ike_puts_retrieved_facts_in_the_prompt_and_answers_briefly(memory, chat_model) -> None:
    agent = build_agent("ike", memory=memory, chat_model=chat_model)
    answers = agent.answer_batch(["Who is the CEO of Quorvex Systems?", MULTI_HOP_QUESTION])
    for answer in answers:
        assert answer.steps[0].kind == "retrieve" and answer.model_calls == 1
        assert "\n" not in answer.text
    assert CEO_FACT in answers[0].steps[0].text
    # The multi-hop question gets its whole chain in the prompt (whether the 135M model then reads it
    # right is what the benchmark measures, not this test).
    assert all(sentence in answers[1].steps[0].text for *_, sentence in INVENTED_FACTS[:3])


@pytest.mark.slow
def test_base_uses_no_memory(memory, chat_model) -> None:
    answers = build_agent("base", memory=memory, chat_model=chat_model).answer_batch(["What is 2 plus 2?"])
    assert answers[0].facts_used == [] and answers[0].text and answers[0].model_calls == 1


def test_factory_knows_every_method_and_rejects_others(memory) -> None:
    assert METHODS == ("instructed", "mello", "pokemqa", "ike", "base")
    with pytest.raises(ValueError, match="unknown method"):
        build_agent("cot", memory=memory, chat_model=None)


def test_served_models_are_chat_openai_and_still_drive_agents(memory) -> None:
    served = build_llm("http://127.0.0.1:9/v1", "some-model", None)
    assert isinstance(served, ChatOpenAI) and served.model_name == "some-model"
    agent = build_agent("mello", memory=memory, chat_model=served)
    assert isinstance(agent, Agent)


def test_memory_as_langchain_retriever(memory) -> None:
    documents = MemoryRetriever(memory=memory, strategy="search", k=2).invoke("Who runs Quorvex Systems?")
    assert documents[0].page_content == CEO_FACT
    assert documents[0].metadata["object"] == "Lina Marsh" and documents[0].metadata["kind"] == "edit"
    assert documents[0].id in memory_ids(memory)


def test_memory_as_langchain_chroma_vectorstore(memory) -> None:
    store = memory_vectorstore(memory)
    hits = store.similarity_search("capital city of Veltoria", k=1, filter=ACTIVE_ONLY)
    assert hits[0].page_content == "The capital of Veltoria is Dramen."
    assert hits[0].id in memory_ids(memory)

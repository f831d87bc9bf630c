"""What the decomposition agents retrieve: the whole active memory, background facts included, so that
with `--memory edits+kg` they get the knowledge graph every other method gets."""

from __future__ import annotations

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from agent.mello import MelloAgent
from agent.pokemqa.agent import PokeMQAAgent
from memory import Memory

QUESTION = "What is the capital of Veltoria?"


@pytest.fixture(scope="module")
def memory(tmp_path_factory) -> Memory:
    memory = Memory.open(tmp_path_factory.mktemp("kg-memory"))
    memory.add_fact("Quorvex Systems", "chief executive officer", "Lina Marsh", kind="edit", source="test")
    memory.add_fact("Veltoria", "capital", "Dramen", kind="background", source="test")
    memory.add_fact("Veltoria", "capital", "Ostmark", kind="background", source="test")  # supersedes Dramen
    return memory


def unused_chat_model() -> FakeListChatModel:
    """Retrieval never calls the model; an empty script makes any call fail loudly."""
    return FakeListChatModel(responses=[])


def test_mello_retrieves_a_background_fact_when_it_is_the_nearest(memory: Memory) -> None:
    hit = MelloAgent(memory, unused_chat_model()).top_fact(QUESTION)
    assert hit is not None
    fact, score = hit
    assert (fact.kind, fact.object) == ("background", "Ostmark")
    assert 0.0 < score <= 1.0


def test_pokemqa_candidates_are_the_nearest_active_facts_of_any_kind(memory: Memory) -> None:
    agent = PokeMQAAgent(memory, unused_chat_model(), candidates=5)
    candidates = agent.fact_candidates(QUESTION)
    assert candidates[0].object == "Ostmark"
    assert {f.kind for f in candidates} == {"edit", "background"}
    assert "Dramen" not in {f.object for f in candidates}  # superseded facts are history, not candidates

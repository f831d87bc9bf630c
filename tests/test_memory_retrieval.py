"""Chain retrieval on a small hand-made graph, dense retrieval, and the InstructEd relevance gate."""

from __future__ import annotations

from pathlib import Path

import pytest

from memory import Memory
from memory.facts import Fact
from memory.retrieval import RetrievalConfig, gate

QUESTION = "What is the capital of the country of citizenship of the author of The Silent Orchard?"
CHAIN = [
    "The author of The Silent Orchard is Tobias Renn.",
    "Tobias Renn is a citizen of Japan.",
    "The capital of Japan is Osaka.",
]


@pytest.fixture(scope="module")
def memory(tmp_path_factory: pytest.TempPathFactory) -> Memory:
    memory = Memory.open(tmp_path_factory.mktemp("retrieval") / "store")
    background = [
        ("The Silent Orchard", "author", "Tobias Renn", "The author of The Silent Orchard is Tobias Renn."),
        ("Tobias Renn", "country of citizenship", "Canada", "Tobias Renn is a citizen of Canada."),
        ("Tobias Renn", "occupation", "novelist", "Tobias Renn works as a novelist."),
        ("Tobias Renn", "place of birth", "Halifax", "Tobias Renn was born in the city of Halifax."),
        ("Canada", "capital", "Ottawa", "The capital of Canada is Ottawa."),
        ("Japan", "official language", "Japanese", "The official language of Japan is Japanese."),
        ("Japan", "capital", "Tokyo", "The capital of Japan is Tokyo."),
        ("Mira Castellane", "sport", "chess", "Mira Castellane is associated with the sport of chess."),
        ("Nordhaven Robotics", "headquarters location", "Lisbon", "Nordhaven Robotics is based in Lisbon."),
    ]
    edits = [
        ("Tobias Renn", "country of citizenship", "Japan", "Tobias Renn is a citizen of Japan."),
        ("Japan", "capital", "Osaka", "The capital of Japan is Osaka."),
    ]
    memory.add([Fact(s, r, o, sentence=text, kind="background") for s, r, o, text in background])
    memory.add([Fact(s, r, o, sentence=text) for s, r, o, text in edits])
    return memory


def test_chain_follows_the_edited_path_in_order(memory: Memory) -> None:
    found = memory.retrieve(QUESTION, n_hops=3)
    assert found.sentences == CHAIN
    assert not found.gated
    assert all(scored.score > 0 for scored in found.facts)


def test_chain_with_unknown_hop_count_stops_at_the_end_of_the_path(memory: Memory) -> None:
    assert memory.retrieve(QUESTION).sentences == CHAIN


def test_chain_returns_at_most_n_facts_and_a_shorter_chain_for_fewer_hops(memory: Memory) -> None:
    found = memory.retrieve(
        "What is the country of citizenship of the author of The Silent Orchard?", n_hops=2
    )
    assert found.sentences == CHAIN[:2]


def test_start_entity_from_dense_hit_when_question_names_no_graph_entity(memory: Memory) -> None:
    found = memory.retrieve("Which country is the novelist Renn a citizen of?", n_hops=1)
    assert found.sentences == ["Tobias Renn is a citizen of Japan."]


def test_dense_returns_n_best_active_facts(memory: Memory) -> None:
    found = memory.retrieve(QUESTION, n_hops=3, strategy="dense")
    assert len(found.facts) == 3
    scores = [scored.score for scored in found.facts]
    assert scores == sorted(scores, reverse=True)
    assert (
        "The capital of Japan is Tokyo."
        not in memory.retrieve("capital of Japan", n_hops=5, strategy="dense").sentences
    )  # superseded facts are never retrieved


def test_gate_closes_for_unrelated_questions(memory: Memory) -> None:
    unrelated = memory.retrieve("How many legs does a spider have?", n_hops=2)
    assert unrelated.gated
    assert len(unrelated.top_scores) == 5
    related = memory.retrieve("Where are the headquarters of Nordhaven Robotics?", n_hops=1)
    assert not related.gated
    assert related.sentences == ["Nordhaven Robotics is based in Lisbon."]


def test_gate_rule() -> None:
    config = RetrievalConfig(gate_std=0.1)
    assert gate([0.31, 0.30, 0.29, 0.28, 0.27], config)
    assert not gate([0.80, 0.30, 0.29, 0.28, 0.27], config)
    assert gate([], config)
    assert not gate([0.5, 0.1], config)  # fewer facts than the gate looks at: cannot judge, keep them
    assert not gate([0.31, 0.30, 0.29, 0.28, 0.27], RetrievalConfig(gate_std=0.001))


def test_unknown_strategy_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="strategy"):
        Memory.open(tmp_path / "store").retrieve("x", strategy="magic")

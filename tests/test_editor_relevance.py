"""The relevance weight's entity test: a question reads an edit only when it names one of its entities."""

from __future__ import annotations

import pytest
import torch

from editor.instructed import InstructEdConfig
from editor.instructed.relevance import entity_gate, names_entity, relevance_weights


@pytest.mark.parametrize(
    ("question", "entity", "named"),
    [
        ("Who wrote Les Misérables?", "Les Miserables", True),  # accents and case
        ("Who broadcast Grey's Anatomy's first season?", "Grey's Anatomy", True),  # possessives
        ("The mother tongue of the Duke of Wellington is", "Duke of Wellington", True),
        ("Max Mosley originates from", "Spike Hughes", False),
        ("Hughes was born in", "Spike Hughes", False),  # every word of the name, not some
        ("Who founded The The?", "The The", True),  # a name made only of filler words keeps them
        ("Who is there?", "The The", False),
        ("Which event was established in 2006?", "2006", True),
    ],
)
def test_names_entity(question, entity, named):
    assert names_entity(question, entity) is named


def test_entity_gate_opens_for_any_named_entity_and_when_none_are_known():
    assert entity_gate("Where was Spike Hughes born?", ["Spike Hughes", "Philadelphia"]) == 1.0
    assert entity_gate("What is Philadelphia famous for?", ["Spike Hughes", "Philadelphia"]) == 1.0
    assert entity_gate("Where was Max Mosley born?", ["Spike Hughes", "Philadelphia"]) == 0.0
    assert entity_gate("Where was Max Mosley born?", []) == 1.0


def test_a_same_relation_question_about_another_subject_is_muted_only_by_the_entity_test():
    config = InstructEdConfig()
    facts = [["Spike Hughes originates from Philadelphia."]] * 3
    questions = ["Spike Hughes originates from", "Max Mosley originates from", "Max Mosley originates from"]
    entities = [["Spike Hughes", "Philadelphia"]] * 2 + [[]]
    weights = relevance_weights(questions, facts, config, entities)
    assert weights[0] == 1.0
    assert weights[1] == 0.0
    assert weights[2] > 0.0  # entities unknown: the cosine ramp alone reads the same-relation prompt
    ungated = relevance_weights(questions, facts, InstructEdConfig(entity_gate=False), entities)
    torch.testing.assert_close(ungated[1], weights[2])


def test_no_instruction_means_zero_relevance():
    weights = relevance_weights(
        ["Where was Spike Hughes born?"], [[]], InstructEdConfig(), [["Spike Hughes"]]
    )
    assert weights.tolist() == [0.0]

"""The held-out stress world: seed 2 generates the shipped file, and check_world catches broken cases."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from evals.stress_world import StressWorld, cases_json, check_world

SHIPPED = Path(__file__).resolve().parents[1] / "evals" / "data" / "stress_world.json"


@pytest.fixture(scope="module")
def shipped_cases() -> list[dict]:
    return json.loads(SHIPPED.read_text(encoding="utf-8"))


@pytest.fixture
def cases(shipped_cases: list[dict]) -> list[dict]:
    """A copy of the shipped cases that a test may break."""
    return copy.deepcopy(shipped_cases)


def test_seed_2_generates_the_shipped_file():
    assert cases_json(StressWorld(2).make_cases()) == SHIPPED.read_text(encoding="utf-8")


def test_shipped_world_has_no_problems(shipped_cases):
    assert check_world(shipped_cases) == []


def test_new_answer_of_another_entity_is_reported(cases):
    case = cases[0]
    other = next(later["answer"] for later in cases[1:] if later["answer"] != case["new_answer"])
    true_end = case["new_answer"]
    case["new_answer"] = other
    problems = check_world(cases)
    assert (
        f"case {case['case_id']}: new_answer {other!r} is not the end of the new chain, {true_end!r}"
        in problems
    )
    assert any(
        problem.startswith(f"case {case['case_id']}: with every edit loaded") and repr(other) in problem
        for problem in problems
    )


def test_edit_also_made_by_another_case_is_reported(cases):
    first = cases[0]
    hops = len(first["orig"]["triples"])
    index, second = next(
        (index, later) for index, later in enumerate(cases[1:], 1) if len(later["orig"]["triples"]) == hops
    )
    # The second case now makes the first one's edits (keeping its id, so the counts stay right).
    cases[index] = dict(copy.deepcopy(first), case_id=second["case_id"])
    subject, relation_id, _ = first["orig"]["edit_triples"][0]
    problems = check_world(cases)
    assert (
        f"case {second['case_id']}: edit of {subject} / {relation_id} is also made by case {first['case_id']}"
        in problems
    )
    assert (
        f"case {first['case_id']}: chain uses {subject} / {relation_id}, which case {second['case_id']} edits"
        in problems
    )


def test_question_without_its_start_entity_is_reported(cases):
    case = cases[0]
    start = case["orig"]["triples"][0][0].removeprefix("E:")
    question = case["questions"][1].replace(start, "somebody")
    case["questions"][1] = question
    problems = check_world(cases)
    assert problems == [
        f"case {case['case_id']}: question {question!r} does not name the start entity {start!r}"
    ]

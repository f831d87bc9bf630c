"""The shipped prefixes end to end, in process: a memory of invented facts, a 2-hop question, its answer.

This is the check CI runs on the shipped InstructEd prefixes (marked `ci`). The entities are invented
(memory/data/demo_facts.jsonl, the `hopedit demo` world), so the model cannot know the answer: it has
to come from the retrieved chain. An edit to the second hop must then change the answer.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers_chat import require_shipped_prefixes

from agent.factory import build_agent
from memory import Memory
from memory.loaders import demo_facts_path

QUESTION = "Where is the headquarters of the employer of Mira Castellane?"
EMPLOYER = ("Mira Castellane", "employer", "Nordhaven Robotics")
HEADQUARTERS = ("Nordhaven Robotics", "headquarters location", "Lisbon")


@pytest.mark.slow
@pytest.mark.ci
def test_shipped_prefixes_answer_a_two_hop_question_from_memory(tmp_path: Path) -> None:
    require_shipped_prefixes()
    memory = Memory.open(tmp_path / "store")
    memory.load_file(demo_facts_path())
    agent = build_agent("instructed", memory=memory)  # the shipped prefixes: no path given

    answer = agent.answer(QUESTION)
    used = {(fact.subject, fact.relation, fact.object) for fact in answer.facts_used}
    assert "Lisbon" in answer.text
    assert {EMPLOYER, HEADQUARTERS} <= used

    memory.add_fact("Nordhaven Robotics", "headquarters location", "Tallinn")
    answer = agent.answer(QUESTION)
    used = {(fact.subject, fact.relation, fact.object) for fact in answer.facts_used}
    assert "Tallinn" in answer.text and "Lisbon" not in answer.text
    assert ("Nordhaven Robotics", "headquarters location", "Tallinn") in used and HEADQUARTERS not in used

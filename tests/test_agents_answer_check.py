"""The chain answer check: a stopped chain is continued, a near copy of the last entity is that entity,
and every other answer is left as the model gave it."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.answer_check import AnswerCheckConfig, ChainAnswerCheck, leading_chain
from memory.facts import Fact

CHAIN = [
    Fact("Vaethnoun", "manufacturer", "Shethdus Labs", "Vaethnoun is made by Shethdus Labs."),
    Fact(
        "Shethdus Labs",
        "headquarters location",
        "Dionbraer",
        "The head office of Shethdus Labs is in Dionbraer.",
    ),
    Fact("Dionbraer", "head of government", "Timser Manddaen", "The mayor of Dionbraer is Timser Manddaen."),
    Fact(
        "Timser Manddaen",
        "place of birth",
        "Foulkam",
        "Timser Manddaen was born in Foulkam.",
        object_aliases=("Foulkam City",),
    ),
]


def test_an_answer_inside_the_chain_continues_to_its_last_entity() -> None:
    checked = ChainAnswerCheck().run("Dionbraer", CHAIN)
    assert checked.text == "Foulkam"
    assert checked.rule == "continue"
    assert "hop 2 of a 4-fact chain, Dionbraer, that ends at" in checked.reason
    # The question's own entity (the chain's start) is never its answer either.
    assert ChainAnswerCheck().run("vaethnoun", CHAIN).text == "Foulkam"


def test_the_last_entity_or_its_alias_is_kept_as_given() -> None:
    for answer in ("Foulkam", "foulkam", "Foulkam City"):
        checked = ChainAnswerCheck().run(answer, CHAIN)
        assert checked.text == answer and not checked.changed


def test_a_near_copy_of_the_last_entity_is_spelled_as_the_memory_spells_it() -> None:
    facts = [
        Fact("Tirquum Group", "founded by", "Brouthlex Murniom"),
        Fact("Brouthlex Murniom", "spouse", "Pithpour Shoulpothsal"),
    ]
    checked = ChainAnswerCheck().run("Pithpour Shoulpoth", facts)
    assert (checked.text, checked.rule) == ("Pithpour Shoulpothsal", "copy")


def test_a_near_copy_of_an_entity_inside_the_chain_continues_too() -> None:
    # "Dionbrear" misspells the hop-2 city: the model stopped there, so the chain's end is the answer.
    checked = ChainAnswerCheck().run("Dionbrear", CHAIN)
    assert (checked.text, checked.rule) == ("Foulkam", "continue")
    assert "near copy" in checked.reason
    assert not ChainAnswerCheck().run("Foulkam", CHAIN).changed
    # The most similar entity is the one named: "Morlunde" is the last entity exactly and a near copy of
    # the inner "Morlund" (0.93), so it is kept, not continued.
    close = [Fact("Quex", "capital", "Morlund"), Fact("Morlund", "twin town", "Morlunde")]
    assert not ChainAnswerCheck().run("Morlunde", close).changed
    assert ChainAnswerCheck().run("Morlund", close).text == "Morlunde"


def test_an_answer_outside_the_chain_is_kept() -> None:
    # With edits alone in memory the chain can be shorter than the question: the model bridges the rest.
    facts = [Fact("Ellie Kemper", "citizenship", "Croatia", "Ellie Kemper is a citizen of Croatia.")]
    checked = ChainAnswerCheck().run("Kolinda Grabar-Kitarović", facts)
    assert checked.text == "Kolinda Grabar-Kitarović" and not checked.changed
    assert ChainAnswerCheck().run("", CHAIN).text == ""
    assert ChainAnswerCheck().run("Dionbraer", []).text == "Dionbraer"


def test_only_the_connected_leading_facts_form_the_chain() -> None:
    extra = Fact("Oslo", "country", "Norway")
    assert leading_chain([*CHAIN[:2], extra, CHAIN[2]]) == CHAIN[:2]
    # "Dionbraer" ends the connected part, so it is the last entity and is kept.
    assert ChainAnswerCheck().run("Dionbraer", [*CHAIN[:2], extra]).text == "Dionbraer"


def test_continuing_can_be_switched_off_and_the_config_is_checked() -> None:
    check = ChainAnswerCheck(AnswerCheckConfig(continue_stopped_chain=False))
    assert check.run("Dionbraer", CHAIN).text == "Dionbraer"
    assert check.to_dict()["continue_stopped_chain"] is False
    with pytest.raises(ValueError, match="min_copy_similarity"):
        AnswerCheckConfig(min_copy_similarity=0.0)


def test_settings_load_from_yaml_and_bad_files_name_the_problem(tmp_path: Path) -> None:
    good = tmp_path / "check.yaml"
    good.write_text("continue_stopped_chain: false\nmin_copy_similarity: 0.9\n", encoding="utf-8")
    config = AnswerCheckConfig.from_yaml(good)
    assert config == AnswerCheckConfig(continue_stopped_chain=False, min_copy_similarity=0.9)
    assert AnswerCheckConfig.from_dict(config.to_dict()) == config
    assert ChainAnswerCheck(config).run("Dionbraer", CHAIN).text == "Dionbraer"
    for text, problem in (
        ("min_copy_similarity: 1.5\n", "min_copy_similarity must be in"),
        ("min_copy_similarity: high\n", "min_copy_similarity must be a number"),
        ("continue_stopped_chain: maybe\n", "continue_stopped_chain must be true or false"),
        ("copy_threshold: 0.9\n", "unknown answer check setting"),
        ("- 0.9\n", "must be a mapping"),
        ("min_copy_similarity: [\n", "not valid YAML"),
    ):
        bad = tmp_path / "bad.yaml"
        bad.write_text(text, encoding="utf-8")
        with pytest.raises(ValueError, match=problem) as error:
            AnswerCheckConfig.from_yaml(bad)
        assert str(bad) in str(error.value)

"""Counted content words: what path search adds to whole-path similarity."""

from __future__ import annotations

from collections import Counter

import pytest

from memory.lexical import content_terms, coverage, hop_terms, question_terms, stem


def test_inflections_of_one_word_meet() -> None:
    assert {stem("employs"), stem("employed"), stem("employer")} == {"employ"}
    assert stem("countries") == stem("country")
    assert stem("citizenship") == "citizen"
    assert stem("is") == "is"  # too short to strip


def test_function_words_and_names_do_not_count() -> None:
    assert content_terms("Who is the mayor of the city?") == ["mayor", "city"]
    words = question_terms("Who is the person married to the person married to Orla Venn?", ["Orla Venn"])
    assert words == Counter({"person": 2, "marri": 2})


def test_coverage_counts_repeats() -> None:
    question = "Which company employs the person married to the person married to Orla?"
    words = question_terms(question, ["Orla"])
    spouse = Counter(hop_terms("spouse", "is married to"))
    employer = Counter(hop_terms("employer", "is employed by"))
    once, twice = coverage(words, spouse + employer), coverage(words, spouse + spouse + employer)
    assert twice > once
    assert once == pytest.approx(2 / 6)  # "marri" and "employ" of company, employ, person x2, marri x2
    assert twice == pytest.approx(3 / 6)
    assert coverage(Counter(), spouse) == 0.0

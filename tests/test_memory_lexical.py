"""Counted content words: what path search adds to whole-path similarity."""

from __future__ import annotations

from collections import Counter

import pytest

from memory.lexical import content_terms, hop_terms, question_terms, stem, word_fit


def test_inflections_of_one_word_meet() -> None:
    assert {stem("employs"), stem("employed"), stem("employer")} == {"employ"}
    assert stem("countries") == stem("country")
    assert stem("citizenship") == "citizen"
    assert stem("is") == "is"  # too short to strip


def test_function_words_and_names_do_not_count() -> None:
    assert content_terms("Who is the mayor of the city?") == ["mayor", "city"]
    words = question_terms("Who is the person married to the person married to Orla Venn?", ["Orla Venn"])
    assert words == Counter({"person": 2, "marri": 2})


def test_word_fit_counts_repeats_and_penalises_going_past_the_question() -> None:
    question = "Which company employs the person married to the person married to Orla?"
    words = question_terms(question, ["Orla"])  # company, employ, person x2, marri x2
    spouse = Counter(hop_terms("spouse", "is married to"))  # spouse, marri
    employer = Counter(hop_terms("employer", "is employed by"))  # employ
    once = word_fit(words, spouse + employer)  # 2 of 6 question words, 2 of 3 path words
    twice = word_fit(words, spouse + spouse + employer)  # 3 of 6, 3 of 5
    thrice = word_fit(words, spouse + spouse + spouse + employer)  # 3 of 6, 3 of 7
    assert once == pytest.approx(4 / 9)
    assert twice == pytest.approx(6 / 11)
    assert thrice == pytest.approx(6 / 13)
    assert twice > thrice > once
    assert word_fit(Counter(), spouse) == 0.0
    assert word_fit(words, Counter()) == 0.0

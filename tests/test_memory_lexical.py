"""Counted content words: what path search adds to whole-path similarity."""

from __future__ import annotations

from collections import Counter

import pytest

from memory.lexical import content_terms, hop_terms, question_terms, relation_word_weights, stem, word_fit


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


def test_a_word_several_relations_use_weighs_less() -> None:
    country = hop_terms("country", "is a city in")  # country, city
    campus = hop_terms("campus city", "is located in")  # campu, city
    mayor = hop_terms("mayor", "The mayor of is")  # mayor
    weights = relation_word_weights([country, campus, mayor])
    assert weights == {"country": 1.0, "city": 0.5, "campu": 1.0, "mayor": 1.0}
    words = question_terms("Who is the city leader of Moldrin?", ["Moldrin"])  # city, lead
    # Equal weights: the country hop matches "city" as well as the mayor hop matches nothing at all.
    assert word_fit(words, Counter(country)) == pytest.approx(0.5)
    # Weighted: the shared word is worth half (matched 0.5 of the path's 1.5 and the question's 1.5).
    assert word_fit(words, Counter(country), weights) == pytest.approx(1 / 3)
    assert word_fit(words, Counter(mayor), weights) == 0.0
    # A word no relation uses weighs 1 (matched 1 of the question's 1.5), and no weights is equal weights.
    assert word_fit(words, Counter({"lead": 1}), weights) == pytest.approx(0.8)
    assert (
        word_fit(words, Counter({"lead": 1}), {})
        == word_fit(words, Counter({"lead": 1}))
        == pytest.approx(2 / 3)
    )

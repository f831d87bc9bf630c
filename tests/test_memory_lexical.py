"""Counted content words: what path search adds to whole-path similarity."""

from __future__ import annotations

from collections import Counter

import pytest

from memory.lexical import (
    content_terms,
    hop_terms,
    question_terms,
    relation_order,
    relation_word_weights,
    stem,
    word_fit,
)


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


def test_a_paraphrased_word_matches_the_nearest_path_word() -> None:
    """`nearness` lets "waterway" stand for the river relation's "river", worth how near they are."""
    near = {("waterway", "riv"): 0.7, ("waterway", "flow"): 0.6, ("hometown", "birthplace"): 0.65}

    def nearness(term: str, word: str) -> float:
        return near.get((term, word), 0.0)

    words = question_terms("What is the waterway of the hometown of Orla?", ["Orla"])  # waterway, hometown
    birthplace = Counter(hop_terms("birthplace", "was born in"))  # birthplace, born
    river = Counter(hop_terms("river", "lies on the river"))  # riv, lie
    outflow = Counter(hop_terms("flows into", "flows into"))  # flow
    assert word_fit(words, birthplace + river) == 0.0  # no equal words at all
    # Matched 0.65 + 0.7 of the question's 2 words and of the path's 4.
    matched = 0.65 + 0.7
    expected = 2 * (matched / 4) * (matched / 2) / (matched / 4 + matched / 2)
    assert word_fit(words, birthplace + river, nearness=nearness) == pytest.approx(expected)
    # "waterway" takes its nearest word, "river"; going on past it only adds unmatched words.
    assert word_fit(words, birthplace + river, nearness=nearness) > word_fit(
        words, birthplace + river + outflow, nearness=nearness
    )
    # With no near word matched, nothing is: the same as equal words only.
    assert word_fit(words, Counter({"mayor": 1}), nearness=nearness) == 0.0


def test_a_near_word_does_not_let_one_hop_answer_a_word_asked_twice() -> None:
    """A spouse hop has two words for one relation ("spouse", "married"). A question asking for it twice
    must not be matched twice by one hop: each question word matches its equal, or else its nearest, and a
    path word matches only as many question words as it occurs."""
    words = question_terms("Who is the person married to the person married to Orla?", ["Orla"])
    spouse = Counter(hop_terms("spouse", "is married to"))  # spouse, marri

    def nearness(term: str, word: str) -> float:
        return 0.8 if {term, word} == {"marri", "spouse"} else 0.0

    once, twice = spouse, spouse + spouse
    assert word_fit(words, once, nearness=nearness) == word_fit(words, once)
    assert word_fit(words, twice, nearness=nearness) == word_fit(words, twice)
    assert word_fit(words, twice, nearness=nearness) > word_fit(words, once, nearness=nearness)
    # Two question words nearest to one path word occurring once: only the nearer one counts.
    rivers = Counter({"waterway": 1, "stream": 1})

    def to_river(term: str, word: str) -> float:
        return {"waterway": 0.7, "stream": 0.65}.get(term, 0.0) if word == "riv" else 0.0

    matched = 0.7
    expected = 2 * (matched / 1) * (matched / 2) / (matched / 1 + matched / 2)
    assert word_fit(rivers, Counter({"riv": 1}), nearness=to_river) == pytest.approx(expected)


SPOUSE = hop_terms("spouse", "is married to")
EMPLOYER = hop_terms("employer", "is employed by")
FOUNDER = hop_terms("founder", "was founded by")


@pytest.mark.parametrize(
    "question",
    [
        # before the name, nearest first; after it, last
        "Who is the person who founded the company that employs Orla Vent married to?",
        "Who is the person married to the person who founded the company that employs Orla Vent?",
        # after the name, in order
        "Who is Orla Vent's employer's founder's spouse?",
    ],
)
def test_relation_order_reads_outward_from_the_start(question: str) -> None:
    right = relation_order(question, "Orla Vent", [EMPLOYER, FOUNDER, SPOUSE])
    assert right == 3  # every pair of hops in the question's order
    assert relation_order(question, "Orla Vent", [SPOUSE, EMPLOYER, FOUNDER]) < right
    assert relation_order(question, "Orla Vent", [FOUNDER, EMPLOYER, SPOUSE]) < right


def test_relation_order_without_the_name_or_the_words_is_neutral() -> None:
    question = "Who is the person who founded the company that employs Orla Vent?"
    assert relation_order(question, "Ilse Marn", [EMPLOYER, FOUNDER]) == 0
    assert relation_order(question, "Orla Vent", [SPOUSE, hop_terms("birthplace", "was born in")]) == 0

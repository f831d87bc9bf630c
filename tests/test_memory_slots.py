"""The subject-slot test that keeps dense hits about another subject out of the evidence."""

from __future__ import annotations

import pytest

from memory.facts import Fact
from memory.slots import names_other_subject


def fact(subject: str, obj: str, sentence: str, aliases: tuple[str, ...] = ()) -> Fact:
    return Fact(subject, "relation", obj, sentence=sentence, subject_aliases=aliases)


CITIZEN = fact("Hitomi Shimatani", "Japan", "Hitomi Shimatani is a citizen of Japan.")
CAPITAL = fact("Poland", "Warsaw", "The capital of Poland is Warsaw.", aliases=("Republic of Poland",))


@pytest.mark.parametrize(
    ("question", "hit"),
    [
        ("Futabatei Shimei is a citizen of", CITIZEN),  # subject first: the words after it
        ("The capital of Masovian Voivodeship is", CAPITAL),  # the words before and after it
        ("Everyone knows that the capital of Zeta Prime is", CAPITAL),  # anywhere in the question
        ("The capital of 2nd Arrondissement is", CAPITAL),  # a name may open with a digit
    ],
)
def test_another_name_in_the_subject_slot_is_another_subject(question: str, hit: Fact) -> None:
    assert names_other_subject(question, hit)


@pytest.mark.parametrize(
    ("question", "hit"),
    [
        ("The capital of Poland is", CAPITAL),  # the subject itself
        ("The capital of Republic of POLAND is", CAPITAL),  # an alias, case folded
        # A multi-hop question describes the subject: that is what dense evidence is for.
        ("What is the capital of the country where Ellie Kemper was born?", CAPITAL),
        ("The capital of which country hosts the games?", CAPITAL),
        ("the capital of masovian voivodeship is", CAPITAL),  # lower case: never judged
        ("Which country is Futabatei Shimei a citizen of?", CITIZEN),  # other words around it
        ("What language do people speak in Masovia?", CAPITAL),  # the sentence's words are absent
    ],
)
def test_the_subject_described_or_its_words_absent_is_not_judged(question: str, hit: Fact) -> None:
    assert not names_other_subject(question, hit)

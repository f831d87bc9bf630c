"""Answer extraction: the evaluator compares exactly what short_answer returns."""

import pytest

from agent.answers import short_answer


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Answer: Paris.", "Paris"),
        ("Final answer: Commonwealth of Australia\nQuestion: next", "Commonwealth of Australia"),
        ('"Oderzo".', "Oderzo"),
        ("U.S. Army", "U.S. Army"),
        ("J. R. R. Tolkien. He wrote it.", "J. R. R. Tolkien"),
        ("  \n Answer:\n London", "London"),
        ("The answer is Canada.", "Canada"),
        ("The capital of Veltoria is Dramen.", "Dramen"),
        ("", ""),
    ],
)
def test_short_answer(text: str, expected: str) -> None:
    assert short_answer(text) == expected


def test_long_complement_is_kept_whole() -> None:
    text = "The team is a group of people who play football in the north of the country"
    assert short_answer(text) == text

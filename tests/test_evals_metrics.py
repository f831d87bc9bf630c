"""Every evaluation metric against values computed by hand on tiny inputs."""

from __future__ import annotations

import pytest

from evals import metrics

KOLINDA = {"answer": "Kolinda Grabar-Kitarović", "answer_alias": ["Grabar-Kitarović"]}
GOLD = ("Kolinda Grabar-Kitarović", ["Grabar-Kitarović"])
HOPS = [
    {"answer": "Croatia", "answer_alias": ["Republic of Croatia", "HR"]},
    KOLINDA,
]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("The United States", "united states"),
        ("  Kolinda   Grabar-Kitarović. ", "kolinda grabar kitarovic"),
        ("“Tamil”", "tamil"),
        ("An Apple a day", "apple day"),
        ("Theodore", "theodore"),  # 'the' only as a whole word
        ("Ｔｏｋｙｏ", "tokyo"),  # full-width letters fold under NFKD
        ("", ""),
    ],
)
def test_normalize(raw, expected):
    assert metrics.normalize(raw) == expected


def test_alias_match_answer_alias_and_edge_cases():
    assert metrics.alias_match("kolinda grabar kitarovic", *GOLD)
    assert metrics.alias_match("Grabar-Kitarović!", *GOLD)
    assert not metrics.alias_match("Kolinda", *GOLD)  # a part is not the answer
    assert not metrics.alias_match("", "The", ["the"])  # silence never matches
    assert not metrics.alias_match("The", "Croatia", ["the"])  # alias that normalises to nothing is ignored
    assert metrics.alias_match("the USA", "United States of America", ["USA", "U.S.A."])
    assert metrics.alias_match("U.S.A.", "United States of America", ["USA", "U.S.A."])


def test_alias_contained_needs_whole_words():
    assert metrics.alias_contained("She is a citizen of Croatia.", "Croatia", [])
    assert not metrics.alias_contained("Croatian", "Croatia", [])
    assert not metrics.alias_contained("", "Croatia", [])


def test_case_correct_any_of_three():
    assert metrics.case_correct(["Paris", "Grabar-Kitarovic", ""], *GOLD)
    assert not metrics.case_correct(["Paris", "Trump", "Kolinda"], *GOLD)


def test_hops_and_hop_wise():
    assert metrics.hops_correct(["HR", "Kolinda Grabar-Kitarović"], HOPS)
    assert not metrics.hops_correct(["United States", "Kolinda Grabar-Kitarović"], HOPS)
    assert not metrics.hops_correct(["Croatia"], HOPS)  # a missing hop is wrong
    assert metrics.hop_wise_correct(True, True) is True
    assert metrics.hop_wise_correct(False, True) is False
    assert metrics.hop_wise_correct(True, False) is False
    assert metrics.hop_wise_correct(True, None) is None


def test_intermediate_answers_cover_in_order():
    assert metrics.intermediate_answers_cover(["Ellie", "Croatia", "Grabar-Kitarović"], HOPS)
    assert not metrics.intermediate_answers_cover(["Grabar-Kitarović", "Croatia"], HOPS)  # wrong order
    assert not metrics.intermediate_answers_cover(["Croatia"], HOPS)


def test_fact_recall():
    needed = [("Ellie Kemper", "Croatia"), ("Croatia", "Kolinda Grabar-Kitarović")]
    assert metrics.fact_recall(needed, [("ellie kemper", "Croatia.")]) == 0.5
    assert (
        metrics.fact_recall(needed, [("Croatia", "Kolinda Grabar-Kitarovic"), ("Ellie Kemper", "Croatia")])
        == 1
    )
    assert metrics.fact_recall(needed, []) == 0
    assert metrics.fact_recall([], [("a", "b")]) is None


def test_summarize_mquake_by_hops_and_edits():
    def rec(hops, edits, correct, hop, unedited, recall):
        return {
            "n_hops": hops,
            "n_edits": edits,
            "correct": correct,
            "correct_contains": correct or unedited,
            "hop_correct": hop,
            "unedited": unedited,
            "retrieval_recall": recall,
        }

    records = [
        rec(2, 1, True, True, False, 1.0),
        rec(2, 2, False, False, True, 0.5),
        rec(3, 1, True, False, False, 0.0),
        rec(4, 1, False, None, False, None),
    ]
    summary = metrics.summarize_mquake(records)
    assert summary["n_cases"] == 4
    assert summary["multihop_acc"] == 0.5
    assert summary["multihop_acc_contains"] == 0.75
    assert summary["hop_acc"] == pytest.approx(1 / 3)  # None cases are left out
    assert summary["by_hops"] == {"2": 0.5, "3": 1.0, "4": 0.0}
    assert summary["by_n_edits"] == {"1": pytest.approx(2 / 3), "2": 0.0}
    assert summary["retrieval_recall"] == 0.5
    assert summary["unedited_rate"] == 0.25


def test_accuracy_by_sorts_numerically():
    records = [{"k": k, "correct": True} for k in (10, 2, 3)]
    assert list(metrics.accuracy_by(records, "k")) == ["2", "3", "10"]


def test_score_and_harmonic_mean():
    result = metrics.score_and_h({"Rel": 1.0, "Gen": 0.5, "Loc": 0.5, "Por": 0.25})
    assert result["Score"] == pytest.approx(0.5625)
    assert result["H"] == pytest.approx(4 / (1 + 2 + 2 + 4))
    assert metrics.score_and_h({"Rel": 1.0, "Loc": 0.0})["H"] == 0.0
    assert metrics.score_and_h({"Rel": None}) == {"Score": None, "H": None}


def test_token_accuracy():
    assert metrics.token_accuracy([True, False, True, True]) == 0.75
    with pytest.raises(ValueError):
        metrics.token_accuracy([])


def test_summarize_portability_averages_per_case_first():
    probes = [
        {"case": 1, "metric": "Rel", "exact": 1, "contains": 1, "token_acc": 1.0},
        {"case": 2, "metric": "Rel", "exact": 0, "contains": 1, "token_acc": 0.5},
        {"case": 1, "metric": "Loc", "exact": 1, "contains": 1, "token_acc": None},
        {"case": 1, "metric": "Loc", "exact": 0, "contains": 0, "token_acc": None},
        {"case": 1, "metric": "Loc", "exact": 0, "contains": 0, "token_acc": None},
        {"case": 2, "metric": "Loc", "exact": 1, "contains": 1, "token_acc": None},
    ]
    out = metrics.summarize_portability(probes)
    assert out["exact"]["Rel"] == 0.5
    assert out["exact"]["Loc"] == pytest.approx((1 / 3 + 1) / 2)
    assert out["exact"]["Score"] == pytest.approx((0.5 + 2 / 3) / 2)
    assert out["token_acc"] == {"Rel": 0.75, "Score": 0.75, "H": 0.75}

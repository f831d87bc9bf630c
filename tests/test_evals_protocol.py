"""The consistency rule and the edited-share split, on hand-made cases (no model, no memory)."""

from __future__ import annotations

import pytest

from evals.metrics import summarize_mquake
from evals.mquake import batch_contexts
from evals.protocol import TARGET_NEW, TARGET_ORIGINAL, LoadedEdits, consistency, edited_case_ids


def _case(case_id: int, chain: list[tuple[str, str, str]], new_chain: list[tuple[str, str, str]], edits):
    return {
        "case_id": case_id,
        "requested_rewrite": [{"subject": s, "target_new": {"str": o}} for s, _, o in edits],
        "orig": {
            "triples": [list(t) for t in chain],
            "new_triples": [list(t) for t in new_chain],
            "edit_triples": [list(t) for t in edits],
        },
    }


# Case 1: Ellie's citizenship edited to Croatia; its chain goes through Croatia's head of state.
ELLIE = _case(
    1,
    [("Q_ellie", "P27", "Q_usa"), ("Q_usa", "P35", "Q_trump")],
    [("Q_ellie", "P27", "Q_croatia"), ("Q_croatia", "P35", "Q_kolinda")],
    [("Q_ellie", "P27", "Q_croatia")],
)
# Case 2 edits Croatia's head of state: it contradicts case 1's new chain.
CROATIA = _case(
    2,
    [("Q_x", "P1", "Q_croatia"), ("Q_croatia", "P35", "Q_kolinda")],
    [("Q_x", "P1", "Q_croatia"), ("Q_croatia", "P35", "Q_zoran")],
    [("Q_croatia", "P35", "Q_zoran")],
)
# Case 3: a two-edit chain of its own, touching nothing of the others.
OWN_CHAIN = _case(
    3,
    [("Q_a", "P1", "Q_b"), ("Q_b", "P2", "Q_c")],
    [("Q_a", "P1", "Q_b2"), ("Q_b2", "P2", "Q_c2")],
    [("Q_a", "P1", "Q_b2"), ("Q_b2", "P2", "Q_c2")],
)
# Case 4 makes the same edit as case 1 (same object): agreement, not a conflict.
SAME_EDIT = _case(
    4,
    [("Q_ellie", "P27", "Q_usa")],
    [("Q_ellie", "P27", "Q_croatia")],
    [("Q_ellie", "P27", "Q_croatia")],
)


def test_another_cases_edit_of_a_chain_triple_breaks_consistency():
    loaded = LoadedEdits([ELLIE, CROATIA, OWN_CHAIN])
    ok, conflicts = consistency(ELLIE, loaded, TARGET_NEW)
    assert not ok
    assert [c.to_dict() for c in conflicts] == [
        {
            "chain_triple": ["Q_croatia", "P35", "Q_kolinda"],
            "edit_triple": ["Q_croatia", "P35", "Q_zoran"],
            "edit_case": "2",
        }
    ]


def test_own_edits_and_unrelated_edits_keep_a_case_consistent():
    loaded = LoadedEdits([ELLIE, CROATIA, OWN_CHAIN])
    assert consistency(OWN_CHAIN, loaded, TARGET_NEW) == (True, [])
    assert consistency(CROATIA, loaded, TARGET_NEW) == (True, [])


def test_the_same_edit_from_another_case_is_no_conflict():
    loaded = LoadedEdits([ELLIE, SAME_EDIT])
    assert consistency(ELLIE, loaded, TARGET_NEW)[0]
    assert consistency(SAME_EDIT, loaded, TARGET_NEW)[0]


def test_unedited_case_is_checked_against_its_original_chain():
    # Case 4 asked with its edits withheld: case 1's edit of Ellie's citizenship contradicts its
    # original chain (Ellie -> USA), so no memory reader can give the original answer.
    loaded = LoadedEdits([ELLIE])
    ok, conflicts = consistency(SAME_EDIT, loaded, TARGET_ORIGINAL)
    assert not ok and conflicts[0].edit_triple == ("Q_ellie", "P27", "Q_croatia")
    assert consistency(OWN_CHAIN, loaded, TARGET_ORIGINAL)[0]


def test_batch_contexts_mark_targets_and_consistency():
    contexts = batch_contexts([ELLIE, CROATIA, OWN_CHAIN], edited={"1", "2"})
    assert contexts["1"].target == TARGET_NEW and not contexts["1"].consistent
    assert contexts["2"].target == TARGET_NEW and contexts["2"].consistent
    assert contexts["3"].target == TARGET_ORIGINAL and contexts["3"].consistent


def test_edited_share_is_seeded_and_sized():
    cases = [{"case_id": i} for i in range(200)]
    half = edited_case_ids(cases, 0.5, seed=0)
    assert len(half) == 100
    assert half == edited_case_ids(cases, 0.5, seed=0)
    assert half != edited_case_ids(cases, 0.5, seed=1)
    assert edited_case_ids(cases, 1.0, seed=0) == {str(i) for i in range(200)}
    with pytest.raises(ValueError, match="edited-share"):
        edited_case_ids(cases, 0.0, seed=0)


def _record(correct: bool, consistent: bool, target: str = "new") -> dict:
    return {
        "correct": correct,
        "correct_contains": correct,
        "hop_correct": None,
        "n_hops": 2,
        "n_edits": 1,
        "retrieval_recall": 1.0 if correct else 0.5,
        "unedited": False,
        "consistent": consistent,
        "target": target,
    }


def test_summary_reports_all_and_consistent_cases_apart():
    records = [_record(True, True), _record(False, True), _record(False, False), _record(False, False)]
    summary = summarize_mquake(records)
    assert summary["multihop_acc"] == 0.25
    assert summary["n_consistent"] == 2
    assert summary["multihop_acc_consistent"] == 0.5
    assert summary["retrieval_recall_consistent"] == 0.75
    assert "unedited_acc" not in summary


def test_summary_reports_edited_and_unedited_cases_apart():
    records = [
        _record(True, True),
        _record(False, True),
        _record(True, True, "original"),
        _record(True, False, "original"),
    ]
    summary = summarize_mquake(records)
    assert summary["edited_acc"] == 0.5
    assert summary["unedited_acc"] == 1.0
    assert summary["n_unedited_consistent"] == 1

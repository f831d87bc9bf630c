"""Benchmark-file handling of the evaluation: case selection, edit batches, probes, result logs, reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from editor.instructed import InstructEdConfig
from evals.fact_sources import fact_sources
from evals.mquake import case_record
from evals.mquake_data import (
    EvalDataError,
    edit_batches,
    edit_sentence,
    gold_chain_facts,
    load_cases,
    needed_facts,
    selected_ids,
)
from evals.portability_data import load_edit_cases
from evals.report import write_report
from evals.results import CaseLog, RunLockedError
from memory.facts import Fact
from memory.loaders import LoadOptions, mquake_chain_entities, read_facts

FIXTURES = Path(__file__).parent / "fixtures" / "evals"


def _cases(n: int) -> list[dict]:
    return [
        {"case_id": i, "questions": ["q"] * 3, "new_answer": "x", "requested_rewrite": []} for i in range(n)
    ]


def test_edit_batches_partition_and_determinism():
    cases = _cases(250)
    batches = edit_batches(cases, "100", seed=3)
    assert [len(b) for b in batches] == [100, 100, 50]
    assert sorted(c["case_id"] for b in batches for c in b) == list(range(250))
    assert [c["case_id"] for c in edit_batches(cases, "100", seed=3)[1]] == [c["case_id"] for c in batches[1]]
    assert len(edit_batches(cases, "1", seed=0)) == 250
    assert len(edit_batches(cases, "all", seed=0)[0]) == 250
    with pytest.raises(EvalDataError):
        edit_batches(cases, "0", seed=0)


def test_selected_ids_are_the_head_of_the_batch_order():
    cases = _cases(250)
    chosen = selected_ids(cases, 100, seed=3)
    assert chosen == [c["case_id"] for c in edit_batches(cases, "100", seed=3)[0]]
    assert selected_ids(cases, 100, seed=3) == chosen
    assert selected_ids(cases, 100, seed=4) != chosen


def test_load_cases_reports_file_and_record(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"case_id": 1}]))
    with pytest.raises(EvalDataError, match=r"bad.json: record 0 lacks questions"):
        load_cases(bad)
    broken = tmp_path / "broken.json"
    broken.write_text("[\n{")
    with pytest.raises(EvalDataError, match=r"broken.json:2"):
        load_cases(broken)


def test_gold_chain_and_needed_facts():
    case = load_cases(FIXTURES / "mquake_tiny.json")[0]
    chain = gold_chain_facts(case)
    assert len(chain) == len(case["new_single_hops"])
    assert chain[-1].endswith(case["new_answer"] + ".")
    entities = mquake_chain_entities(case)
    assert entities[0] == case["orig"]["new_triples_labeled"][0][0]
    assert entities[-1] == case["new_answer"] and len(entities) == len(set(entities))
    assert needed_facts(case, "edits") == [
        (r["subject"], r["target_new"]["str"]) for r in case["requested_rewrite"]
    ]
    assert len(needed_facts(case, "edits+kg")) == len(case["orig"]["new_triples_labeled"])
    # A case asked with its edits withheld needs its original chain from the KG, nothing from edits.
    assert needed_facts(case, "edits+kg", "original") == [
        (s, o) for s, _, o in case["orig"]["triples_labeled"]
    ]
    assert needed_facts(case, "edits", "original") == []


def _fake_case() -> dict:
    return {
        "case_id": 7,
        "questions": ["Q1", "Q2", "Q3"],
        "answer": "Donald Trump",
        "answer_alias": ["Trump"],
        "new_answer": "Kolinda Grabar-Kitarović",
        "new_answer_alias": ["Grabar-Kitarović"],
        "requested_rewrite": [{"subject": "Ellie Kemper", "target_new": {"str": "Croatia"}}],
        "new_single_hops": [
            {"question": "h1", "answer": "Croatia", "answer_alias": []},
            {"question": "h2", "answer": "Kolinda Grabar-Kitarović", "answer_alias": []},
        ],
        "orig": {"new_triples_labeled": [["Ellie Kemper", "citizenship", "Croatia"]]},
    }


def test_case_record_scores_outputs():
    facts = [Fact("Ellie Kemper", "country of citizenship", "Croatia")]
    record = case_record(
        _fake_case(),
        "edits",
        ["Answer: Trump.", "The answer is Grabar-Kitarović.", "Croatia"],
        facts,
        ["Croatia.", "Kolinda Grabar-Kitarović"],
        None,
        {"seconds": 1.0},
    )
    assert record["predictions"] == ["Trump", "Grabar-Kitarović", "Croatia"]
    assert record["correct"] is True
    assert record["unedited"] is True
    assert record["hop_correct"] is True
    assert record["retrieval_recall"] == 1.0
    assert record["n_hops"] == 2 and record["n_edits"] == 1
    wrong_hop = case_record(_fake_case(), "edits", ["Grabar-Kitarović"], [], ["USA", "x"], None, {}, False)
    assert wrong_hop["hop_correct"] is False
    assert wrong_hop["retrieval_recall"] is None
    traced = case_record(
        _fake_case(), "edits", ["no idea"], [], None, ["Croatia", "Kolinda Grabar-Kitarović"], {}
    )
    assert traced["correct"] is False and traced["hop_correct"] is False


@pytest.mark.parametrize(
    ("name", "metrics"),
    [
        ("counterfact_portability_tiny.json", {"Rel", "Gen", "Loc", "Por"}),
        ("zsre_portability_tiny.json", {"Rel", "Gen", "Loc", "Por"}),
        ("counterfact_subject_replace_tiny.json", {"Rel", "Gen", "Loc", "Rep"}),
        ("zsre_subject_replace_tiny.json", {"Rel", "Gen", "Rep"}),
        ("zsre_inverse_relation_tiny.json", {"Rel", "Gen", "Rev"}),
    ],
)
def test_portability_files_become_probes(name, metrics):
    cases = load_edit_cases(FIXTURES / name, max_loc=3)
    assert len(cases) == 2
    for case in cases:
        assert {p.metric for p in case.probes} == metrics
        assert case.sentence.endswith(".") and case.target in case.sentence
        assert sum(p.metric == "Loc" for p in case.probes) <= 3
        assert all(p.targets for p in case.probes if p.metric != "Loc")
        # every Loc probe carries the true answer that EasyEdit's token-level Loc teacher-forces
        assert all(p.loc_answer for p in case.probes if p.metric == "Loc")


def test_counterfact_neighbours_are_scored_on_the_true_object():
    raw = json.loads((FIXTURES / "counterfact_portability_tiny.json").read_text())[0]
    case = load_edit_cases(FIXTURES / "counterfact_portability_tiny.json")[0]
    loc = [p for p in case.probes if p.metric == "Loc"]
    assert [p.prompt for p in loc] == raw["neighborhood_prompts"]
    assert {p.loc_answer for p in loc} == {raw["requested_rewrite"]["target_true"]["str"]}


def test_zsre_probe_targets():
    raw = json.loads((FIXTURES / "zsre_inverse_relation_tiny.json").read_text())[0]
    case = load_edit_cases(FIXTURES / "zsre_inverse_relation_tiny.json")[0]
    rev = next(p for p in case.probes if p.metric == "Rev")
    assert rev.prompt == raw["inverse question"] and rev.targets == [raw["subject"]]
    assert case.relation and raw["subject"] not in case.relation


def test_case_log_resumes_and_drops_torn_line(tmp_path):
    path = tmp_path / "cases.jsonl"
    log = CaseLog(path)
    log.append({"case_id": 1, "correct": True})
    log.append({"case_id": 2, "correct": False})
    with pytest.raises(RunLockedError):
        CaseLog(path)  # a second writer while the first still runs
    with path.open("a") as handle:
        handle.write('{"case_id": 3, "corr')  # a kill mid-write
    log.close()
    resumed = CaseLog(path)
    assert resumed.done == {"1", "2"}
    resumed.append({"case_id": 3, "correct": True})
    assert [json.loads(line)["case_id"] for line in path.read_text().splitlines()] == [1, 2, 3]


def test_report_merges_runs_into_table_and_png(tmp_path):
    base = {
        "benchmark": "mquake",
        "memory": "edits",
        "edits": "all",
        "n_cases": 3,
        "command": "hopedit eval x",
    }
    summaries = [
        {**base, "method": "base", "multihop_acc": 0.0, "by_hops": {"2": 0.0, "3": 0.0}},
        {**base, "method": "ike", "multihop_acc": 1 / 3, "by_hops": {"2": 0.5, "3": 0.0}, "hop_acc": None},
    ]
    md, png = write_report(summaries, tmp_path)
    text = md.read_text()
    assert "| base | edits | all | 3 | 0.0 |" in text
    assert "| ike | edits | all | 3 | 33.3 |" in text
    assert "CAPE-KG" in text and "`hopedit eval x`" in text
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_loc_is_split_by_the_relevance_weight_of_the_instruction():
    from evals.portability import loc_by_relevance

    edit = ["The original language of Mariana Pineda is Tamil."]
    prompts = [
        ("Loc", "Who won the marathon in New York City?"),
        ("Loc", "The original language of Mariana Pineda is"),
        ("Loc", "The original language of La Traviata is"),  # same relation, another subject: gated
        ("Rel", "The original language of Mariana Pineda is"),
    ]
    probes = [
        {"metric": metric, "prompt": prompt, "facts": edit, "entities": ["Mariana Pineda", "Tamil"]}
        for metric, prompt in prompts
    ]
    for probe, exact in zip(probes, (1, 0, 1, 1), strict=True):
        probe.update(exact=exact, token_acc=float(exact))
    groups = loc_by_relevance(probes, InstructEdConfig())
    assert groups["r=0"] == {"n": 2, "exact": 1.0, "token_acc": 1.0}
    assert groups["r=1"] == {"n": 1, "exact": 0.0, "token_acc": 0.0}
    assert groups["0<r<1"] == {"n": 0, "exact": None, "token_acc": None}


def test_fact_sources_sorts_trace_facts_by_kind(tmp_path):
    data = FIXTURES / "mquake_tiny.json"
    cases = load_cases(data)
    run = tmp_path / "run"
    run.mkdir()
    summary = {"method": "mello", "memory": "edits+kg", "edits": "all", "seed": 0}
    (run / "summary.json").write_text(json.dumps(summary))
    first, second = cases[0], cases[1]
    own = edit_sentence(first["requested_rewrite"][0])
    other = edit_sentence(second["requested_rewrite"][0])
    background = next(
        f.sentence
        for f in read_facts(data, format="mquake", options=LoadOptions(with_kg=True))
        if f.kind == "background" and f.sentence not in {own, other}
    )
    trace = [
        {"kind": "retrieve", "text": own},
        {"kind": "retrieve", "text": background},
        {"kind": "retrieve", "text": other},
        {"kind": "retrieve", "text": "No fact found."},  # not a fact the memory held
        {"kind": "subquestion", "text": own},  # not a fact step
    ]
    (run / "cases.jsonl").write_text(json.dumps({"case_id": first["case_id"], "trace": trace}) + "\n")
    row = fact_sources(data, run)
    assert (row["fact_steps"], row["own edit"], row["other edit"], row["background"]) == (3, 1, 1, 1)
    assert row["background_share"] == pytest.approx(1 / 3)
    summary["method"] = "ike"
    (run / "summary.json").write_text(json.dumps(summary))
    with pytest.raises(ValueError, match="keeps no fact steps"):
        fact_sources(data, run)

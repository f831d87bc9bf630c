"""The editor-driven evaluations end to end on tiny fixtures (real model and prefixes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.cli import app
from editor.instructed import SHIPPED_PREFIXES

FIXTURES = Path(__file__).parent / "fixtures" / "evals"
needs_prefixes = pytest.mark.skipif(
    not (SHIPPED_PREFIXES / "prefixes.safetensors").is_file(), reason="no trained prefixes shipped yet"
)
runner = CliRunner()


@pytest.mark.slow
@needs_prefixes
@pytest.mark.parametrize("mode", ["gold", "retrieval"])
def test_portability_zsre(tmp_path, mode):
    out = tmp_path / mode
    args = ["eval", "portability", "--data", str(FIXTURES / "zsre_portability_tiny.json"), "--mode", mode]
    result = runner.invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_cases"] == 2 and summary["n_probes"] == 8  # Rel, Gen, Loc, Por per record
    exact = summary["metrics"]["exact"]
    assert set(exact) == {"Rel", "Gen", "Loc", "Por", "Score", "H"}
    # Both edits are applied to their own prompts and paraphrases (the prompt's old answer is 2011,
    # the edit says 2006), and the unrelated question keeps the unedited model's answer.
    assert (exact["Rel"], exact["Gen"], exact["Loc"]) == (1.0, 1.0, 1.0)
    assert summary["token_acc_available"]
    records = [json.loads(line) for line in (out / "cases.jsonl").read_text().splitlines()]
    rel = next(p for p in records[0]["probes"] if p["metric"] == "Rel")
    loc = next(p for p in records[0]["probes"] if p["metric"] == "Loc")
    assert rel["prediction"] == "2006"
    assert rel["facts"] == [records[0]["edit"]]  # given (gold) or found in the memory (retrieval)
    assert loc["token_acc"] == 1.0  # the edited model agrees with the unedited one on the true answer
    assert (out / "report.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
@needs_prefixes
def test_portability_task_instruction_and_prefix_folder(tmp_path):
    args = ["eval", "portability", "--data", str(FIXTURES / "zsre_portability_tiny.json"), "--limit", "1"]
    args += ["--task-instruction", "zsre", "--prefixes", str(SHIPPED_PREFIXES), "--out", str(tmp_path)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["task_line"].startswith("Task:")
    record = json.loads((tmp_path / "cases.jsonl").read_text().splitlines()[0])
    assert all(p["facts"][0] == summary["task_line"] for p in record["probes"])
    bad = runner.invoke(app, [*args[:6], "--task-instruction", "nope", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "--task-instruction" in bad.output
    # The summary names its configuration, and resuming the folder with another one is refused.
    assert summary["fingerprint"]["options"]["task_line"] == summary["task_line"]
    other = runner.invoke(app, [*args[:6], "--prefixes", str(SHIPPED_PREFIXES), "--out", str(tmp_path)])
    assert other.exit_code != 0 and "options" in other.output


@pytest.mark.slow
@needs_prefixes
def test_mquake_gold_facts(tmp_path):
    args = ["eval", "mquake", "--data", str(FIXTURES / "mquake_tiny.json"), "--gold-facts", "--limit", "1"]
    result = runner.invoke(app, [*args, "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["method"] == "instructed+gold" and summary["memory"] == "gold"
    record = json.loads((tmp_path / "cases.jsonl").read_text().splitlines()[0])
    assert len(record["facts_given"]) == record["n_hops"] == len(record["hop_predictions"])
    assert summary["hop_acc"] is not None
    skipped = runner.invoke(app, [*args, "--no-hops", "--out", str(tmp_path / "no-hops")])
    assert skipped.exit_code == 0, skipped.output
    record = json.loads((tmp_path / "no-hops" / "cases.jsonl").read_text().splitlines()[0])
    assert record["hop_predictions"] == []
    assert json.loads((tmp_path / "no-hops" / "summary.json").read_text())["hop_acc"] is None

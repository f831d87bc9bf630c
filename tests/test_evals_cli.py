"""Bad input to the evaluation commands: a clear message naming the file, exit code 2, no traceback."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from agent.cli import app
from evals.resources import load_kgprompt

runner = CliRunner()


def test_missing_data_file(tmp_path):
    result = runner.invoke(
        app, ["eval", "mquake", "--data", str(tmp_path / "nope.json"), "--out", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "nope.json: no such file" in result.output


def test_unknown_method_and_bad_edits(tmp_path):
    data = tmp_path / "d.json"
    data.write_text("[]")
    result = runner.invoke(app, ["eval", "mquake", "--data", str(data), "--method", "gpt9"])
    assert result.exit_code == 2 and "unknown gpt9" in result.output
    result = runner.invoke(app, ["eval", "mquake", "--data", str(data), "--edits", "many"])
    assert result.exit_code == 2 and "--edits" in result.output


def test_bad_answer_check_settings_name_the_file(tmp_path):
    data = tmp_path / "d.json"
    data.write_text("[]")
    settings = tmp_path / "check.yaml"
    settings.write_text("min_copy_similarity: 2\n")
    result = runner.invoke(
        app,
        [
            "eval",
            "mquake",
            "--data",
            str(data),
            "--answer-check-config",
            str(settings),
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 2
    assert "check.yaml" in result.output and "min_copy_similarity must be in (0, 1]" in result.output
    result = runner.invoke(
        app, ["eval", "mquake", "--data", str(data), "--answer-check-config", str(tmp_path / "no.yaml")]
    )
    assert result.exit_code == 2 and "no.yaml: no such file" in result.output
    result = runner.invoke(
        app,
        ["eval", "mquake", "--data", str(data), "--no-answer-check", "--answer-check-config", str(settings)],
    )
    assert result.exit_code == 2 and "--no-answer-check turns off" in result.output


def test_broken_json_names_file_and_line(tmp_path):
    data = tmp_path / "broken.json"
    data.write_text('[\n{"case_id": 1,\n')
    result = runner.invoke(
        app, ["eval", "mquake", "--data", str(data), "--method", "base", "--out", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "broken.json:3" in result.output
    assert "Traceback" not in result.output


def test_portability_rejects_unknown_mode(tmp_path):
    data = tmp_path / "p.json"
    data.write_text("[]")
    result = runner.invoke(app, ["eval", "portability", "--data", str(data), "--mode", "magic"])
    assert result.exit_code == 2 and "--mode" in result.output


def test_report_without_results(tmp_path):
    result = runner.invoke(app, ["eval", "report", str(tmp_path)])
    assert result.exit_code == 2 and "no summary.json" in result.output


def test_kgprompt_merges_cases_and_drops_unlinked(tmp_path):
    path = tmp_path / "kg.json"
    path.write_text(
        json.dumps(
            {
                "1": {
                    "existing": {"q1": True, "q2": False},
                    "mapping": {"q1": "Ellie Kemper, a human.", "q2": "x"},
                },
                "3": {"existing": {"q3": True}, "mapping": {"q3": "Croatia, a country."}},
            }
        )
    )
    assert load_kgprompt(path) == {"q1": "Ellie Kemper, a human.", "q3": "Croatia, a country."}


def test_a_negative_draft_token_count_is_refused(tmp_path):
    data = tmp_path / "d.json"
    data.write_text("[]")
    for command in (["eval", "mquake", "--data", str(data)], ["bench"], ["serve"]):
        result = runner.invoke(app, [*command, "--draft-tokens", "-1"])
        assert result.exit_code == 2 and "--draft-tokens" in result.output, command

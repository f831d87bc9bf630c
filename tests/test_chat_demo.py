"""`hopedit demo`: the bundled facts in a throw-away memory, multi-hop answers with their chains."""

from __future__ import annotations

import re
import subprocess

import pytest
from helpers_chat import HOPEDIT, chat_env, require_shipped_prefixes

from agent.commands import DEMO_QUESTIONS


def run_demo(*args: str) -> str:
    result = subprocess.run(
        [str(HOPEDIT), "demo", *args],
        capture_output=True,
        text=True,
        env={**chat_env(), "COLUMNS": "300"},  # wide enough that no table cell wraps
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stdout + result.stderr
    return result.stdout


@pytest.mark.slow
def test_demo_without_an_editor_says_so_and_shows_the_chains(tmp_path):
    out = run_demo("--prefixes", str(tmp_path / "no-prefixes-here"))
    assert "InstructEd editor unavailable" in out
    assert "No model answers below" in out
    # the first question's chain, through the edited citizenship to the edited capital
    assert "1. The author of The Silent Orchard is Tobias Renn." in out
    assert "2. Tobias Renn is a citizen of Japan." in out
    assert "3. The capital of Japan is Osaka." in out


@pytest.mark.slow
def test_demo_answers_with_the_editor():
    require_shipped_prefixes()
    out = run_demo()
    assert "InstructEd editor unavailable" not in out
    total = len(DEMO_QUESTIONS)
    assert f"{total} of {total} answers contain the answer the edits imply" in out
    for _, expected in DEMO_QUESTIONS:
        # the row: expected │ the model's answer, containing it │ match "yes"
        row = rf"│ {re.escape(expected)}\s*│[^│\n]*{re.escape(expected)}[^│\n]*│ yes\s*│"
        assert re.search(row, out), f"no correct row for {expected!r}"

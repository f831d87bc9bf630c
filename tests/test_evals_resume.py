"""A run killed midway and resumed gives the same summary as an uninterrupted run (real model, `base`)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evals.mquake import TIMING_FIELDS

FIXTURE = Path(__file__).parent / "fixtures" / "evals" / "mquake_tiny.json"
HOPEDIT = str(Path(sys.executable).parent / "hopedit")


def _command(out: Path) -> list[str]:
    return [
        HOPEDIT, "eval", "mquake", "--data", str(FIXTURE), "--method", "base", "--edits", "1",
        "--limit", "3", "--seed", "0", "--batch-cases", "1", "--no-hops", "--out", str(out),
    ]  # fmt: skip


def _comparable(out: Path) -> dict:
    summary = json.loads((out / "summary.json").read_text())
    kept = {k: v for k, v in summary.items() if k not in (*TIMING_FIELDS, "command")}
    # The fingerprint names the run's command (its --out differs); everything else must agree.
    kept["fingerprint"] = {k: v for k, v in kept["fingerprint"].items() if k != "command"}
    return kept


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


@pytest.mark.slow
@pytest.mark.ci
def test_killed_and_resumed_run_matches_uninterrupted(tmp_path):
    whole = tmp_path / "whole"
    subprocess.run(_command(whole), check=True, capture_output=True, timeout=600)

    resumed = tmp_path / "resumed"
    process = subprocess.Popen(_command(resumed), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while _lines(resumed / "cases.jsonl") < 1 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    done_before = _lines(resumed / "cases.jsonl")
    assert 1 <= done_before < 3
    assert not (resumed / "summary.json").exists()

    subprocess.run(_command(resumed), check=True, capture_output=True, timeout=600)
    ids = [json.loads(line)["case_id"] for line in (resumed / "cases.jsonl").read_text().splitlines()]
    assert len(ids) == len(set(ids)) == 3  # finished cases were not redone
    assert _comparable(resumed) == _comparable(whole)
    assert _comparable(whole)["n_cases"] == 3

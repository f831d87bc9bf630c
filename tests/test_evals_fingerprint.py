"""Run fingerprints: what they record, and the refusal to resume a folder made by another configuration."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from evals.fingerprint import FingerprintMismatchError, check_and_record, make_fingerprint

FIXTURE = Path(__file__).parent / "fixtures" / "evals" / "mquake_tiny.json"


def _fingerprint(data: Path, **options) -> dict:
    return make_fingerprint(
        data=data,
        command="hopedit eval mquake ...",
        options={"edits": "all", **options},
        retrieval_config={"gate": "evidence", "beam_width": 4},
        uses_model=False,
    )


def test_fingerprint_names_commit_data_and_prefixes_by_content():
    fingerprint = _fingerprint(FIXTURE)
    assert fingerprint["data_sha256"] == hashlib.sha256(FIXTURE.read_bytes()).hexdigest()
    assert len(fingerprint["prefixes_sha256"]) == 64
    assert fingerprint["git_commit"] and len(fingerprint["git_commit"]) == 40
    assert isinstance(fingerprint["git_dirty"], bool)
    assert fingerprint["retrieval_config"] == {"gate": "evidence", "beam_width": 4}
    assert "relevance_floor" in fingerprint["relevance_config"]


def test_resume_with_other_data_is_refused_and_force_is_recorded(tmp_path):
    other = tmp_path / "other.json"
    other.write_text(FIXTURE.read_text() + " ", encoding="utf-8")
    run = tmp_path / "run"
    run.mkdir()
    check_and_record(run, _fingerprint(FIXTURE), has_results=False, force=False)
    # Same configuration (another command line): resumes.
    same = _fingerprint(FIXTURE) | {"command": "hopedit eval mquake --other-spelling"}
    check_and_record(run, same, has_results=True, force=False)
    with pytest.raises(FingerprintMismatchError, match="data_sha256"):
        check_and_record(run, _fingerprint(other), has_results=True, force=False)
    with pytest.raises(FingerprintMismatchError, match="options"):
        check_and_record(run, _fingerprint(FIXTURE, seed=1), has_results=True, force=False)
    # A larger --limit extends the same run.
    check_and_record(run, _fingerprint(FIXTURE, limit=300), has_results=True, force=False)
    forced = check_and_record(run, _fingerprint(other), has_results=True, force=True)
    assert forced["forced_resumes"][0]["changed"] == ["data_sha256"]
    stored = json.loads((run / "fingerprint.json").read_text())
    assert stored["forced_resumes"][0]["previous"]["data_sha256"] == _fingerprint(FIXTURE)["data_sha256"]


def test_a_folder_without_results_takes_the_new_fingerprint(tmp_path):
    check_and_record(tmp_path, _fingerprint(FIXTURE), has_results=False, force=False)
    check_and_record(tmp_path, _fingerprint(FIXTURE, seed=5), has_results=False, force=False)
    assert json.loads((tmp_path / "fingerprint.json").read_text())["options"]["seed"] == 5


def test_fingerprint_names_the_precision_answers_are_computed_in(monkeypatch):
    from evals.fingerprint import base_model_fingerprint

    monkeypatch.setenv("HOPEDIT_PRECISION", "bf16")
    assert base_model_fingerprint(None)["base_model_precision"] == "bf16"
    monkeypatch.setenv("HOPEDIT_PRECISION", "fp32")
    assert base_model_fingerprint(None)["base_model_precision"] == "fp32"

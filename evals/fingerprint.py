"""Run fingerprints: what exactly produced a result folder, so a number can be traced and a resumed run
cannot silently mix two configurations.

A fingerprint names the code (git commit, dirty tree), the data (sha256), the prefixes (sha256 of their
files, never a word like "shipped"), the base model, the retrieval and relevance configuration actually
used, the protocol options and the command. Resuming compares everything but the command and the time.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from evals.results import read_json, write_json

FINGERPRINT_FILE = "fingerprint.json"
# Fields that may differ between the sessions of one resumed run.
_NOT_COMPARED = ("command", "git_dirty", "forced_resumes")


class FingerprintMismatchError(RuntimeError):
    """A result folder was made by another configuration than the one resuming it."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_dir(path: Path) -> str:
    """One hash over a folder's files (names and contents, sorted), e.g. a prefixes folder."""
    digest = hashlib.sha256()
    for item in sorted(p for p in Path(path).rglob("*") if p.is_file()):
        digest.update(item.relative_to(path).as_posix().encode())
        digest.update(sha256_file(item).encode())
    return digest.hexdigest()


def git_state(repo: Path | None = None) -> dict[str, Any]:
    """The commit the code was at and whether the tree had uncommitted changes (None outside git)."""
    where = repo or Path(__file__).resolve().parent.parent

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", *args], cwd=where, capture_output=True, text=True, timeout=20, check=True
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip()

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"git_commit": commit, "git_dirty": None if status is None else bool(status)}


def prefixes_fingerprint(prefixes: Path | None) -> dict[str, Any]:
    """The prefixes folder a run used, by content; its relevance configuration comes along."""
    from editor.instructed import SHIPPED_PREFIXES

    folder = Path(prefixes) if prefixes is not None else SHIPPED_PREFIXES
    config_file = folder / "config.yaml"
    relevance: dict[str, Any] = {}
    if config_file.is_file():
        import yaml

        loaded = yaml.safe_load(config_file.read_text(encoding="utf-8")) or {}
        relevance = {
            key: loaded.get(key)
            for key in ("reweight", "relevance_floor", "relevance_full", "entity_gate", "layers", "n_prefix")
            if key in loaded
        }
    return {
        "prefixes_path": str(folder),
        "prefixes_sha256": sha256_dir(folder) if folder.is_dir() else None,
        "relevance_config": relevance,
    }


def base_model_fingerprint(model_spec: str | None) -> dict[str, Any]:
    from editor.loading import inference_precision, resolve_model

    model_id, path = resolve_model(model_spec)
    return {
        "base_model": model_id,
        "base_model_sha256": sha256_file(path) if path.is_file() else sha256_dir(path),
        # The dtype answers are computed in (HOPEDIT_PRECISION, else the "auto" rule on this CPU).
        "base_model_precision": inference_precision(),
    }


def make_fingerprint(
    *,
    data: Path | None,
    command: str,
    options: Mapping[str, Any],
    retrieval_config: Mapping[str, Any] | None = None,
    model_spec: str | None = None,
    prefixes: Path | None = None,
    uses_model: bool = True,
    uses_prefixes: bool = True,
) -> dict[str, Any]:
    """Everything that determines a run's numbers; `options` are the protocol switches (edits, seed...)."""
    fingerprint: dict[str, Any] = {
        **git_state(),
        "data": str(data) if data is not None else None,
        "data_sha256": sha256_file(data) if data is not None else None,
        "options": dict(options),
        "retrieval_config": dict(retrieval_config) if retrieval_config is not None else None,
        "command": command,
    }
    if uses_model:
        fingerprint.update(base_model_fingerprint(model_spec))
    if uses_prefixes:
        fingerprint.update(prefixes_fingerprint(prefixes))
    return fingerprint


def _comparable(fingerprint: Mapping[str, Any]) -> dict[str, Any]:
    kept = {k: v for k, v in fingerprint.items() if k not in _NOT_COMPARED}
    # How many cases are evaluated does not change any case's result (edit batches come from the whole
    # file), so a run may be resumed with a larger or smaller --limit.
    if isinstance(kept.get("options"), Mapping):
        kept["options"] = {k: v for k, v in kept["options"].items() if k != "limit"}
    # The data file may be given by another path to the same bytes.
    kept.pop("data", None)
    kept.pop("prefixes_path", None)
    return kept


def differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    a, b = _comparable(old), _comparable(new)
    return [key for key in sorted(set(a) | set(b)) if a.get(key) != b.get(key)]


def check_and_record(run_dir: Path, fingerprint: dict[str, Any], has_results: bool, force: bool) -> dict:
    """Write the folder's fingerprint, or refuse to resume a folder made by another configuration.

    With `force`, the resume goes ahead and the override is recorded in the fingerprint, so the summary
    says that its cases came from more than one configuration.
    """
    path = Path(run_dir) / FINGERPRINT_FILE
    fingerprint = {**fingerprint, "forced_resumes": []}
    if has_results and path.is_file():
        old = read_json(path)
        changed = differences(old, fingerprint)
        if changed and not force:
            raise FingerprintMismatchError(
                f"{run_dir}: its results were made with a different {', '.join(changed)}; "
                "use a new --out folder, or --force-resume to mix them (recorded in the summary)"
            )
        if changed:
            fingerprint = {
                **fingerprint,
                "forced_resumes": [*old.get("forced_resumes", []), {"changed": changed, "previous": old}],
            }
        else:
            fingerprint = {**fingerprint, "forced_resumes": old.get("forced_resumes", [])}
    write_json(path, fingerprint)
    return fingerprint

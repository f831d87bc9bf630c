"""Result folders: an append-only cases.jsonl that makes runs resumable, and summary.json.

A case is appended (and flushed) as soon as it is finished, so a killed run loses at most the cases in
flight; a torn last line from a kill is dropped on restart.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any


def read_cases(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line cut short by a kill; the case is redone
    return records


def rewrite_cases(path: Path, records: Iterable[Mapping]) -> None:
    """Drop torn lines before appending again, so the file stays valid JSONL."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    os.replace(tmp, path)


class RunLockedError(RuntimeError):
    """Another process is writing the same result folder."""


class CaseLog:
    """Append-only per-case log keyed by `key`; `done` says which keys a restart may skip.

    An exclusive lock on `<log>.lock` (held until the process ends) keeps two runs from appending to the
    same log, which would interleave two configurations' cases.
    """

    def __init__(self, path: Path, key: str = "case_id") -> None:
        self.path = path
        self.key = key
        self._lock = path.with_suffix(".lock").open("w")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunLockedError(f"{path.parent}: another run is writing this result folder") from None
        self.records = read_cases(path)
        if path.exists():
            rewrite_cases(path, self.records)
        self.done = {str(r[key]) for r in self.records}

    def close(self) -> None:
        """Release the folder for the next run (the lock file goes too: results stay uncluttered)."""
        if not self._lock.closed:
            self.path.with_suffix(".lock").unlink(missing_ok=True)
            self._lock.close()

    def append(self, record: Mapping) -> None:
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        self.records.append(dict(record))
        self.done.add(str(record[self.key]))


def write_json(path: Path, data: Mapping) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))

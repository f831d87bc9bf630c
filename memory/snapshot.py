"""A copy of an embedded memory's records next to its Chroma files, so opening a large memory is fast.

Opening a memory needs every record (the graph mirror holds them all). Chroma's client hands them over
slowly (a large memory took tens of seconds to open); the same records as JSON columns load in a small
fraction of that time. The snapshot is a cache: Chroma stays the one
source of truth, and the snapshot is used only while it provably describes the store.

Two files in the store directory:
- `hopedit-snapshot.json`: the records (committed, `active` and `superseded_by` derived), one JSON array per
  field. JSON, not pickle: reading a file must never run code.
- `hopedit-snapshot.valid`: the data file's SHA-256 and the *fingerprint* of Chroma's files (name, size,
  modification time of every file at the top of the directory, `chroma.sqlite3` and its journals).

Why that is enough to trust it:
- every write through `ChromaFactStore` deletes the `.valid` file first (`invalidate`), so a write that is
  killed midway leaves no valid snapshot, and the next open reads Chroma (and repairs what the crash left);
- the fingerprint is taken after the writer closed Chroma and compared before the next opener opens it, so
  a store changed by anything else (another program, an older hopedit) no longer matches;
- a memory writes the snapshot only when it closes consistent (its own writes all finished, nothing left
  to repair), while it still holds the store's lock.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from memory.facts import Fact

_FACT_FIELDS = tuple(field.name for field in dataclasses.fields(Fact))

DATA_NAME = "hopedit-snapshot.json"
VALID_NAME = "hopedit-snapshot.valid"
# Bumped whenever the layout of either file changes: an older snapshot is then simply not used.
FORMAT = 1
# Chroma's files at the top of the store directory start with this (`chroma.sqlite3` and its journals);
# nothing else there (the lock, the chat history, the snapshot itself) is part of the fingerprint.
_CHROMA_PREFIX = "chroma"
# One JSON array per field, in the order of the graph's records. Aliases are rare, so they are stored
# sparsely (`_SPARSE`): [[record index, [alias, ...]], ...].
_COLUMNS = (
    "id",
    "subject",
    "relation",
    "object",
    "sentence",
    "kind",
    "source",
    "added_at",
    "active",
    "superseded_by",
)
_SPARSE = ("subject_aliases", "object_aliases")

Fingerprint = list[list]  # [[file name, size, mtime_ns], ...], sorted by name


def fingerprint(directory: Path) -> Fingerprint:
    """Name, size and modification time (ns) of each of Chroma's files at the top of the store directory.

    Chroma keeps its records and write log in `chroma.sqlite3` (plus a journal while writing): any change
    to the store changes one of them. Opening Chroma touches `chroma.sqlite3` too, so the fingerprint is
    taken before a store is opened and after it is closed.
    """
    found = []
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return []
    for entry in entries:
        if not entry.name.startswith(_CHROMA_PREFIX) or not entry.is_file():
            continue
        stat = entry.stat()
        found.append([entry.name, stat.st_size, stat.st_mtime_ns])
    return sorted(found)


@dataclass
class Snapshot:
    """Records read from a valid snapshot, and the hash of the data file they came from."""

    facts: list[Fact]
    data_sha256: str


def invalidate(directory: Path) -> None:
    """Make any snapshot of this store unusable, durably, before the store is written."""
    try:
        (directory / VALID_NAME).unlink()
    except FileNotFoundError:
        return
    _sync_directory(directory)


def read(directory: Path, expected: Fingerprint) -> Snapshot | None:
    """The snapshot's records if it is valid for a store whose fingerprint is `expected`; else None."""
    try:
        valid = json.loads((directory / VALID_NAME).read_text(encoding="utf-8"))
        if not isinstance(valid, dict) or valid.get("format") != FORMAT:
            return None
        if valid.get("fingerprint") != expected or not expected:
            return None
        data = (directory / DATA_NAME).read_bytes()
    except (OSError, ValueError):
        return None
    digest = hashlib.sha256(data).hexdigest()
    if digest != valid.get("data_sha256"):
        return None
    try:
        return Snapshot(_facts(json.loads(data)), digest)
    except (ValueError, TypeError, KeyError):
        return None


def write(
    directory: Path, facts: Iterable[Fact], fingerprint_now: Fingerprint, data_sha256: str | None = None
) -> str:
    """Write the records (unless `data_sha256` names a data file already there) and mark them valid for
    the store's current fingerprint; returns the data file's hash. Each file is written whole and renamed
    into place, so a crash leaves the old file or the new one, never half of one."""
    if data_sha256 is None or not (directory / DATA_NAME).is_file():
        data = _encode(facts)
        data_sha256 = hashlib.sha256(data).hexdigest()
        _replace(directory / DATA_NAME, data)
    valid = {"format": FORMAT, "fingerprint": fingerprint_now, "data_sha256": data_sha256}
    _replace(directory / VALID_NAME, json.dumps(valid).encode())
    _sync_directory(directory)
    return data_sha256


def _encode(facts: Iterable[Fact]) -> bytes:
    records = list(facts)
    columns = {name: [getattr(fact, name) for fact in records] for name in _COLUMNS}
    sparse: dict[str, list] = {name: [] for name in _SPARSE}
    for index, fact in enumerate(records):
        for name in _SPARSE:
            if getattr(fact, name):
                sparse[name].append([index, list(getattr(fact, name))])
    # Python's float repr round-trips exactly, so `added_at` (the history order) survives unchanged.
    payload = {"format": FORMAT, "columns": columns, "sparse": sparse}
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")


def _facts(payload: dict) -> list[Fact]:
    """The records, built without `Fact.__post_init__`: they were validated Facts when written, and the
    data file's SHA-256 has just been checked; validating them again was a large share of an open."""
    if payload.get("format") != FORMAT or {*_COLUMNS, *_SPARSE} != set(_FACT_FIELDS):
        raise ValueError("snapshot format")
    columns: dict[str, list] = payload["columns"]
    rows = list(zip(*(columns[name] for name in _COLUMNS), strict=True))
    aliases: dict[str, dict[int, tuple[str, ...]]] = {
        name: {int(index): tuple(names) for index, names in payload["sparse"][name]} for name in _SPARSE
    }
    facts = []
    for index, row in enumerate(rows):
        record = dict(zip(_COLUMNS, row, strict=True))
        if type(record["added_at"]) not in (float, int) or type(record["active"]) is not bool:
            raise ValueError("snapshot field types")
        record["added_at"] = float(record["added_at"])  # as a record read from Chroma has it
        for name in _SPARSE:
            record[name] = aliases[name].get(index, ())
        fact = object.__new__(Fact)
        fact.__dict__.update(record)
        facts.append(fact)
    return facts


def _replace(path: Path, data: bytes) -> None:
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _sync_directory(directory: Path) -> None:
    """Persist a rename or unlink in the directory itself (POSIX; a no-op where directories cannot be
    opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)

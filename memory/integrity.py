"""What a crash can leave in a store, found and repaired when the memory opens (or by `hopedit facts check`).

Two things can be left half-done on disk, and neither may change what the memory says:
- records of a write that never committed (a SIGKILL or an exception mid-load): they are invisible (stored
  inactive, and skipped here) and get deleted;
- stored `active` / `superseded_by` flags that disagree with the versions (a crash between the commit marker
  and the last flag update, or a store forked by an older hopedit): the graph derives the active version of
  each (subject, relation) from the versions themselves, and the flags are rewritten to match, so Chroma's
  `active` filter agrees with the graph again.
"""

from __future__ import annotations

import dataclasses
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from memory.facts import Fact
from memory.graph import FactGraph
from memory.store import FactStore, StoredRecord

# On a shared (Chroma server) store another process may be writing right now: its pending records are left
# alone unless they are older than this.
SHARED_PENDING_GRACE_S = 3600.0


def new_load_id(now: float | None = None) -> str:
    """Unique per write, and readable for its start time (ms since the epoch)."""
    import uuid

    return f"load-{int(1000 * (time.time() if now is None else now))}-{uuid.uuid4().hex[:8]}"


def load_started(load_id: str) -> float | None:
    parts = load_id.split("-")
    if len(parts) == 3 and parts[0] == "load" and parts[1].isdigit():
        return int(parts[1]) / 1000
    return None


@dataclass
class IntegrityReport:
    """What `inspect` found; `repaired` says whether `repair` has since fixed it in the store."""

    location: str
    records: int = 0
    uncommitted: dict[str, list[str]] = field(default_factory=dict)  # load id -> record ids (to delete)
    in_flight: dict[str, int] = field(default_factory=dict)  # shared store: load id -> records, left alone
    forked_keys: list[tuple[str, str]] = field(default_factory=list)  # more than one stored active version
    stale: list[Fact] = field(default_factory=list)  # records whose stored flags/time must be rewritten
    repaired: bool = False
    # Read from the store's snapshot (`memory.snapshot`), which is written only from a consistent memory
    # and used only while it matches the store: nothing was inspected, because nothing can be wrong.
    from_snapshot: bool = False

    @property
    def clean(self) -> bool:
        return not self.uncommitted and not self.stale

    def summary(self) -> str:
        if self.clean:
            return f"memory {self.location}: {self.records} records, consistent"
        parts = []
        if self.uncommitted:
            n = sum(len(ids) for ids in self.uncommitted.values())
            parts.append(f"{n} records of {len(self.uncommitted)} unfinished loads")
        if self.forked_keys:
            parts.append(
                f"{len(self.forked_keys)} (subject, relation) keys with more than one active version"
            )
        if self.stale:
            parts.append(f"{len(self.stale)} records with stale active flags")
        verb = "repaired" if self.repaired else "found"
        return f"memory {self.location}: {verb} " + "; ".join(parts)

    def to_dict(self) -> dict:
        return {
            "location": self.location,
            "records": self.records,
            "clean": self.clean,
            "repaired": self.repaired,
            "uncommitted_loads": {load: len(ids) for load, ids in self.uncommitted.items()},
            "uncommitted_records": sum(len(ids) for ids in self.uncommitted.values()),
            "in_flight_loads": dict(self.in_flight),
            "forked_keys": [list(key) for key in self.forked_keys],
            "stale_records": len(self.stale),
            "from_snapshot": self.from_snapshot,
        }


def inspect(
    records: Iterable[StoredRecord],
    committed: Mapping[str, Mapping[str, float]],
    location: str,
    shared: bool = False,
    now: float | None = None,
) -> tuple[IntegrityReport, FactGraph]:
    """The graph of what the memory holds (committed records, active derived) and what disagrees on disk."""
    now = time.time() if now is None else now
    report = IntegrityReport(location)
    restamps: dict[str, float] = {}
    for stamps in committed.values():
        for fact_id, stamp in stamps.items():
            restamps[fact_id] = max(stamp, restamps.get(fact_id, stamp))
    stored: dict[str, Fact] = {}
    visible: list[tuple[Fact, np.ndarray | None]] = []
    for record in records:
        report.records += 1
        if record.load_id and record.load_id not in committed:
            started = load_started(record.load_id)
            if shared and started is not None and now - started < SHARED_PENDING_GRACE_S:
                report.in_flight[record.load_id] = report.in_flight.get(record.load_id, 0) + 1
            else:
                report.uncommitted.setdefault(record.load_id, []).append(record.fact.id)
            continue
        fact = record.fact
        stored[fact.id] = fact
        if restamps.get(fact.id, fact.added_at) > fact.added_at:
            fact = dataclasses.replace(fact, added_at=restamps[fact.id])
        visible.append((fact, record.vector))
    graph = FactGraph.from_records(visible)
    stored_active: dict[tuple[str, str], int] = defaultdict(int)
    for fact in stored.values():
        stored_active[(fact.subject, fact.relation)] += fact.active
        derived = graph.facts[fact.id]
        if (fact.active, fact.superseded_by, fact.added_at) != (
            derived.active,
            derived.superseded_by,
            derived.added_at,
        ):
            report.stale.append(derived)
    report.forked_keys = sorted(key for key, count in stored_active.items() if count > 1)
    return report, graph


def check(store: FactStore) -> tuple[IntegrityReport, FactGraph]:
    return inspect(store.scan(), store.committed_loads(), store.location(), shared=store.shared)


def repair(store: FactStore, report: IntegrityReport, chunk: int = 1000) -> IntegrityReport:
    """Delete the records of unfinished loads and rewrite stale flags; safe to repeat."""
    for ids in report.uncommitted.values():
        for start in range(0, len(ids), chunk):
            store.delete(ids[start : start + chunk])
    for start in range(0, len(report.stale), chunk):
        store.update(report.stale[start : start + chunk])
    report.repaired = True
    return report

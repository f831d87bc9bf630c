"""Which kind of fact the decomposition agents' traces used: the case's own edit, another case's edit, or a
background fact. It explains their edits+kg rows: a background fact nearer to the subquestion than the edit
means the edit is never seen.

Each run's edit batches are rebuilt from its summary (file, `--edits`, `--seed`) and read through the
memory's own MQuAKE loader, as the run did, so a trace sentence is matched against exactly the sentences
that batch's memory held (background sentences depend on the batch's cloze templates).
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from pathlib import Path

from evals.mquake_data import edit_batches, load_cases, write_batch_file
from memory.facts import Fact
from memory.loaders import LoadOptions, read_facts

# Trace steps whose text is a fact sentence: MeLLo's retrievals, PokeMQA's applied facts (its "retrieve"
# step only counts candidates).
FACT_STEPS = {"mello": "retrieve", "pokemqa": "edit"}


def fact_sources(data: Path, run_dir: Path) -> dict:
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    method = summary["method"]
    if method not in FACT_STEPS:
        raise ValueError(
            f"{run_dir}: method {method!r} keeps no fact steps; choose a run of {sorted(FACT_STEPS)}"
        )
    with (run_dir / "cases.jsonl").open(encoding="utf-8") as lines:
        records = [json.loads(line) for line in lines]
    memories = _batch_memories(data, {r["case_id"] for r in records}, summary)
    counts: Counter[str] = Counter()
    for record in records:
        # An edit two cases share is one sentence; it counts for the case the loader read last.
        held = {f.sentence: f for f in memories[record["case_id"]]}
        for step in record["trace"]:
            fact = held.get(step["text"]) if step["kind"] == FACT_STEPS[method] else None
            if fact is not None:
                counts[_source(fact, record["case_id"])] += 1
    total = sum(counts.values())
    return {
        "run": str(run_dir),
        "method": method,
        "memory": summary["memory"],
        "edits": summary["edits"],
        "fact_steps": total,
        **{name: counts[name] for name in ("own edit", "other edit", "background")},
        "background_share": counts["background"] / total if total else None,
    }


def _source(fact: Fact, case_id: int) -> str:
    if fact.kind == "background":
        return "background"
    return "own edit" if fact.source == f"mquake:{case_id}" else "other edit"


def _batch_memories(data: Path, case_ids: set[int], summary: dict) -> dict[int, list[Fact]]:
    """case id -> the facts its batch's memory was loaded with."""
    cases = load_cases(data)
    with_kg = summary["memory"] == "edits+kg"
    memories: dict[int, list[Fact]] = {}
    with tempfile.TemporaryDirectory(prefix="hopedit-sources-") as tmp:
        for batch in edit_batches(cases, summary["edits"], summary["seed"]):
            wanted = [c["case_id"] for c in batch if c["case_id"] in case_ids]
            if not wanted:
                continue
            path = write_batch_file(batch, Path(tmp) / "batch.json")
            facts = read_facts(path, format="mquake", options=LoadOptions(with_kg=with_kg))
            memories.update(dict.fromkeys(wanted, facts))
    return memories

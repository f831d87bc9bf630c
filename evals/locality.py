"""`hopedit eval locality`: does a memory full of edits leave unrelated questions alone?

A memory is built from an MQuAKE file (all its edits, and with edits+kg its background world), then
unrelated probes are asked through the InstructEd pipeline: ZsRE's locality questions and CounterFact's
neighbourhood prompts. A probe passes when the pipeline's answer is exactly the unedited model's answer
to the same prompt. Gated probes (the retriever judged the memory irrelevant) go to the unedited model
and pass by construction; the rest pass only if the facts they were given did not change the answer.
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from evals.fingerprint import make_fingerprint
from evals.mquake_data import EvalDataError
from evals.portability_data import load_edit_cases
from evals.progress import progress_bar
from evals.resources import Resources
from evals.results import write_json
from memory.retrieval import RetrievalConfig


@dataclass
class LocalityConfig:
    memory_data: Path  # MQuAKE file whose edits (and world) fill the memory
    probe_files: list[Path]  # ZsRE / CounterFact portability files
    out: Path
    memory: str = "edits+kg"
    max_loc: int | None = None  # neighbourhood prompts per CounterFact record
    limit: int | None = None  # records per probe file
    batch: int = 16
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)
    command: str = ""
    resources: Resources = field(default_factory=Resources)


def _probes(path: Path, max_loc: int | None, limit: int | None) -> list[str]:
    cases = load_edit_cases(path, max_loc)[:limit]
    return [probe.prompt for case in cases for probe in case.probes if probe.metric == "Loc"]


def run_locality(cfg: LocalityConfig) -> dict:
    from agent.instructed import InstructedAgent
    from memory import Memory
    from memory.loaders import LoadOptions, read_facts

    if cfg.memory not in ("edits", "edits+kg"):
        raise EvalDataError(f"--memory must be edits or edits+kg, got {cfg.memory!r}")
    editor = cfg.resources.editor()
    results: dict[str, dict] = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hopedit-locality-") as tmp:
        memory = Memory.open(Path(tmp) / "store", config=cfg.retrieval)
        facts = read_facts(cfg.memory_data, "mquake", LoadOptions(with_kg=cfg.memory == "edits+kg"))
        memory.add(facts)
        agent = InstructedAgent(memory, editor)
        for path in cfg.probe_files:
            prompts = _probes(path, cfg.max_loc, cfg.limit)
            same, gated, changed = 0, 0, []
            reasons: Counter[str] = Counter()
            with progress_bar(f"locality {path.name}", total=len(prompts)) as advance:
                for start in range(0, len(prompts), cfg.batch):
                    chunk = prompts[start : start + cfg.batch]
                    answers = agent.answer_batch(chunk)
                    unedited = editor.answer(chunk, [[] for _ in chunk], use_prefixes=False)
                    for prompt, answer, base in zip(chunk, answers, unedited, strict=True):
                        gate_step = next(step for step in answer.steps if step.kind == "gate")
                        was_gated = not answer.facts_used
                        gated += was_gated
                        reasons[gate_step.data.get("evidence", {}).get("decided_by", "")] += 1
                        base_text = answer_text(base.text)
                        if answer.text == base_text:
                            same += 1
                        elif len(changed) < 20:
                            changed.append(
                                {
                                    "prompt": prompt,
                                    "unedited": base_text,
                                    "pipeline": answer.text,
                                    "facts": [f.sentence for f in answer.facts_used],
                                }
                            )
                    advance(len(chunk))
            results[path.name] = {
                "probes": len(prompts),
                "same_as_unedited": same / len(prompts) if prompts else None,
                "gated_share": gated / len(prompts) if prompts else None,
                "decided_by": dict(reasons),
                "changed_examples": changed,
            }
        stats = memory.stats()
    summary = {
        "benchmark": "locality",
        "memory_data": str(cfg.memory_data),
        "memory": cfg.memory,
        "memory_stats": {k: v for k, v in stats.items() if k != "store"},
        "results": results,
        "wall_seconds": time.perf_counter() - started,
        "command": cfg.command,
        "fingerprint": make_fingerprint(
            data=cfg.memory_data,
            command=cfg.command,
            options={
                "memory": cfg.memory,
                "probe_files": [str(p) for p in cfg.probe_files],
                "max_loc": cfg.max_loc,
                "limit": cfg.limit,
            },
            retrieval_config=cfg.retrieval.to_dict(),
            model_spec=cfg.resources.model_spec,
            prefixes=cfg.resources.prefixes,
        ),
    }
    cfg.out.mkdir(parents=True, exist_ok=True)
    write_json(cfg.out / "summary.json", summary)
    return summary


def answer_text(text: str) -> str:
    """The short answer, as the pipeline reports it."""
    from agent.answers import short_answer

    return short_answer(text)

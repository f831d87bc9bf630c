"""`hopedit eval portability`: one-hop editing metrics (Rel/Gen/Loc/Por/Rep/Rev, Score, H) of the
InstructEd editor, with the edit given as the gold instruction, retrieved from a memory of all the
file's edits, or retrieved after adding edits one after another (sequential editing).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evals import metrics
from evals.fingerprint import check_and_record, make_fingerprint
from evals.portability_data import EditCase, load_edit_cases
from evals.progress import progress_bar
from evals.resources import Resources
from evals.results import CaseLog, write_json

MODES = ("gold", "retrieval", "sequential")


@dataclass
class PortabilityConfig:
    data: Path
    out: Path
    mode: str = "gold"
    method: str = "instructed"  # or "base": the unedited model, the edit is ignored
    use_prefixes: bool = True
    reweight: bool = True
    limit: int | None = None
    sequential_n: int = 100
    max_loc: int | None = None
    task_line: str | None = None  # InstructEdit task instruction put before the facts
    batch_cases: int = 8
    command: str = ""
    resources: Resources = field(default_factory=Resources)

    @property
    def label(self) -> str:
        suffix = ("-noprefix" if not self.use_prefixes else "") + ("-noreweight" if not self.reweight else "")
        return self.method + (suffix if self.method == "instructed" else "")


def _short(text: str) -> str:
    from agent.answers import short_answer

    return short_answer(text)


def edit_fact(case: EditCase) -> Any:
    """The fact an edit case states, as the memory holds it (retrieval modes, gate calibration)."""
    from memory.facts import Fact

    return Fact(case.subject, case.relation, case.target, sentence=case.sentence, kind="edit", source="eval")


class _Facts:
    """Which instructions each probe gets: the record's own edit, or what the memory retrieves."""

    def __init__(self, mode: str, memory: Any, task_line: str | None) -> None:
        self.mode = mode
        self.memory = memory
        self.task_line = task_line

    def for_probe(self, case: EditCase, prompt: str) -> tuple[list[str], list[str]]:
        """The instruction facts and their entities (for the editor's entity test)."""
        from editor.train.data import with_task_line

        if self.mode == "gold":
            facts, entities = [case.sentence], [case.subject, case.target]
        else:
            retrieval = self.memory.retrieve(prompt, n_hops=1)
            facts, entities = ([], []) if retrieval.gated else (retrieval.sentences, retrieval.entities)
        return with_task_line(self.task_line, facts), entities


def _unedited_answers(editor: Any, prompts: Sequence[str]) -> list[str]:
    """The base model on the same prompt format with no instruction and no prefixes: the reference for
    Loc (so Loc measures what the edit changes, not the prompt format) and the `base` method."""
    if not prompts:
        return []
    return [g.text for g in editor.answer(list(prompts), [[] for _ in prompts], use_prefixes=False)]


def _score_chunk(cfg: PortabilityConfig, cases: Sequence[EditCase], facts: _Facts):
    """Yield one record (all probes of an edit) per case; generations batched over the chunk."""
    editor = cfg.resources.editor()
    probes = [(c, p) for c in cases for p in c.probes]
    prompts = [p.prompt for _, p in probes]
    start = time.perf_counter()
    instructions = [facts.for_probe(c, p.prompt) for c, p in probes]
    facts_lists = [f for f, _ in instructions]
    entity_lists = [e for _, e in instructions]
    if cfg.method == "base":
        outputs = _unedited_answers(editor, prompts)
    else:
        gens = editor.answer(
            prompts, facts_lists, entity_lists, use_prefixes=cfg.use_prefixes, reweight=cfg.reweight
        )
        outputs = [g.text for g in gens]
    loc_index = [i for i, (_, p) in enumerate(probes) if p.metric == "Loc"]
    if cfg.method == "base":  # the outputs already are the unedited answers
        unedited = {i: outputs[i] for i in loc_index}
    else:
        loc_answers = _unedited_answers(editor, [prompts[i] for i in loc_index])
        unedited = dict(zip(loc_index, loc_answers, strict=True))
    targets = [_short(unedited[i]) if p.metric == "Loc" else p.targets[0] for i, (_, p) in enumerate(probes)]
    token_acc = (
        _token_metrics(cfg, editor, probes, facts_lists, entity_lists) if cfg.method == "instructed" else {}
    )
    seconds = time.perf_counter() - start
    for case in cases:
        rows = []
        for i, (c, p) in enumerate(probes):
            if c is not case:
                continue
            pred = _short(outputs[i])
            if p.metric == "Loc":
                exact = metrics.normalize(pred) == metrics.normalize(targets[i])
                contains = exact
            else:
                exact = metrics.alias_match(pred, p.targets[0], p.targets[1:])
                contains = metrics.alias_contained(outputs[i], p.targets[0], p.targets[1:])
            rows.append(
                {
                    "case": case.case,
                    "metric": p.metric,
                    "prompt": p.prompt,
                    "target": targets[i],
                    "facts": facts_lists[i],
                    "entities": entity_lists[i],
                    "output": outputs[i],
                    "prediction": pred,
                    "exact": exact,
                    "contains": contains,
                    "token_acc": token_acc.get(i),
                }
            )
        yield {"case": case.case, "edit": case.sentence, "seconds": seconds / len(cases), "probes": rows}


def _token_metrics(
    cfg: PortabilityConfig, editor: Any, probes: list, facts_lists: list, entity_lists: list
) -> dict[int, float]:
    """EasyEdit's teacher-forced metrics by probe index: for Rel/Gen/Por the share of
    gold target tokens predicted; for Loc the share of positions of the true answer where the edited
    model's prediction agrees with the unedited model's (base model, no instruction)."""
    gold = [i for i, (_, p) in enumerate(probes) if p.metric != "Loc" and p.targets]
    loc = [i for i, (_, p) in enumerate(probes) if p.metric == "Loc" and p.loc_answer]
    texts = {i: probes[i][1].targets[0] for i in gold} | {i: probes[i][1].loc_answer for i in loc}
    order = gold + loc
    if not order:
        return {}
    edited = editor.target_predictions(
        [probes[i][1].prompt for i in order],
        [facts_lists[i] for i in order],
        [texts[i] for i in order],
        [entity_lists[i] for i in order],
        use_prefixes=cfg.use_prefixes,
        reweight=cfg.reweight,
    )
    predicted = dict(zip(order, edited, strict=True))
    out = {i: metrics.token_accuracy([p == g for p, g in zip(*predicted[i], strict=True)]) for i in gold}
    if loc:
        unedited = editor.target_predictions(
            [probes[i][1].prompt for i in loc], [[] for _ in loc], [texts[i] for i in loc], use_prefixes=False
        )
        for i, (base_predicted, _) in zip(loc, unedited, strict=True):
            out[i] = metrics.token_accuracy(
                [p == b for p, b in zip(predicted[i][0], base_predicted, strict=True)]
            )
    return out


def _memory(cfg: PortabilityConfig, cases: Sequence[EditCase], tmp: Path) -> Any:
    from memory import Memory

    mem = Memory.open(tmp / "store")
    if cfg.mode == "sequential":
        with progress_bar("adding edits one by one", total=len(cases)) as advance:
            for case in cases:
                mem.add([edit_fact(case)])
                advance(1)
    else:
        mem.add([edit_fact(c) for c in cases])
    return mem


def loc_by_relevance(probes: Sequence[dict], config: Any) -> dict[str, dict]:
    """Loc split by the relevance weight r the editor (InstructEd `config`) gives each probe's
    instruction (0, between, 1): where locality is kept and where it is lost."""
    from editor.instructed.relevance import relevance_weights

    loc = [p for p in probes if p["metric"] == "Loc" and p["facts"]]
    if not loc:
        return {}
    weights = relevance_weights(
        [p["prompt"] for p in loc], [p["facts"] for p in loc], config, [p["entities"] for p in loc]
    )
    groups = {"r=0": weights == 0, "0<r<1": (weights > 0) & (weights < 1), "r=1": weights == 1}
    out = {}
    for name, selected in groups.items():
        chosen = [p for p, keep in zip(loc, selected.tolist(), strict=True) if keep]
        token = [p["token_acc"] for p in chosen if p["token_acc"] is not None]
        out[name] = {
            "n": len(chosen),
            "exact": metrics.safe_mean(float(p["exact"]) for p in chosen),
            "token_acc": metrics.safe_mean(token),
        }
    return out


def _fingerprint(cfg: PortabilityConfig) -> dict:
    return make_fingerprint(
        data=cfg.data,
        command=cfg.command,
        options={
            "mode": cfg.mode,
            "method": cfg.method,
            "use_prefixes": cfg.use_prefixes,
            "reweight": cfg.reweight,
            "limit": cfg.limit,
            "sequential_n": cfg.sequential_n,
            "max_loc": cfg.max_loc,
            "task_line": cfg.task_line,
            "prompt_lookup": cfg.resources.prompt_lookup.to_dict(),
        },
        model_spec=cfg.resources.model_spec,
        prefixes=cfg.resources.prefixes,
        uses_prefixes=cfg.method == "instructed" and cfg.use_prefixes,
    )


def run_portability(cfg: PortabilityConfig) -> dict:
    if cfg.mode not in MODES:
        raise ValueError(f"--mode must be one of {', '.join(MODES)}, got {cfg.mode!r}")
    cases = load_edit_cases(cfg.data, cfg.max_loc)
    if cfg.mode == "sequential":
        cases = cases[: cfg.sequential_n]
    evaluated = cases if cfg.limit is None else cases[: cfg.limit]
    cfg.out.mkdir(parents=True, exist_ok=True)
    log = CaseLog(cfg.out / "cases.jsonl", key="case")
    try:
        # A resumed folder must have been made by the same configuration (refused otherwise).
        fingerprint = check_and_record(cfg.out, _fingerprint(cfg), bool(log.records), force=False)
    except Exception:
        log.close()
        raise
    todo = [c for c in evaluated if c.case not in log.done]
    wall = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hopedit-port-") as tmp:
        memory = _memory(cfg, cases, Path(tmp)) if cfg.mode != "gold" and todo else None
        facts = _Facts(cfg.mode, memory, cfg.task_line)
        with progress_bar(f"portability {cfg.label} {cfg.mode}", total=len(evaluated)) as advance:
            advance(len(evaluated) - len(todo))
            for start in range(0, len(todo), cfg.batch_cases):
                for record in _score_chunk(cfg, todo[start : start + cfg.batch_cases], facts):
                    log.append(record)
                    advance(1)
    log.close()
    wanted = {c.case for c in evaluated}
    records = [r for r in log.records if r["case"] in wanted]
    probes = [p for r in records for p in r["probes"]]
    seconds = sum(r["seconds"] for r in records)
    summary = {
        "benchmark": "portability",
        "method": cfg.label,
        "mode": cfg.mode,
        "data": cfg.data.name,
        "n_cases": len(records),
        "n_edits_in_memory": 0 if cfg.mode == "gold" else len(cases),
        "n_probes": len(probes),
        "metrics": metrics.summarize_portability(probes),
        "loc_by_relevance": loc_by_relevance(probes, cfg.resources.editor().model.config)
        if cfg.method == "instructed" and cfg.use_prefixes and cfg.reweight
        else None,
        "token_acc_available": any(p["token_acc"] is not None for p in probes),
        "model": cfg.resources.model_spec or "default",
        "prefixes": str(cfg.resources.prefixes or "shipped"),
        "task_line": cfg.task_line,
        "seconds": seconds,
        "probes_per_second": len(probes) / seconds if seconds else None,
        "wall_seconds": time.perf_counter() - wall,
        "command": cfg.command,
        "fingerprint": fingerprint,
    }
    write_json(cfg.out / "summary.json", summary)
    return summary

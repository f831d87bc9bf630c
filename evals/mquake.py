"""`hopedit eval mquake`: every method answers the MQuAKE cases over a memory of edit batches.

Methods that answer in one generation (base, ike, instructed) get many cases' questions in one
`answer_batch`; decomposition agents (mello, pokemqa) run one case per thread so a dynamic batcher or
a remote server sees `concurrency` cases in flight.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evals import metrics
from evals.fingerprint import check_and_record, make_fingerprint
from evals.mquake_data import (
    Case,
    edit_batches,
    gold_chain_facts,
    load_cases,
    needed_facts,
    selected_ids,
    write_batch_file,
)
from evals.progress import progress_bar
from evals.protocol import TARGET_NEW, TARGET_ORIGINAL, LoadedEdits, consistency, edited_case_ids
from evals.resources import Resources
from evals.results import CaseLog, write_json
from memory.facts import entity_names
from memory.loaders import mquake_chain_entities
from memory.retrieval import RetrievalConfig

# Methods whose answer is one generation: their questions are batched across cases, and hop-wise
# accuracy asks the chain's single-hop questions (they expose no intermediate answers).
ONE_GENERATION = frozenset({"base", "ike", "instructed"})
GOLD_METHOD = "instructed+gold"
TIMING_FIELDS = ("seconds", "wall_seconds", "questions_per_second", "memory_build_seconds")


@dataclass
class MquakeConfig:
    data: Path
    methods: list[str]
    out: Path
    edits: str = "all"
    memory: str = "edits"
    limit: int | None = None
    seed: int = 0
    concurrency: int = 4
    batch_cases: int = 8
    gold_facts: bool = False
    use_prefixes: bool = True  # gold-facts ablations: the same prompt on the base model
    reweight: bool = True
    hops: bool = True  # ask the chain's single-hop questions (one-generation methods) for hop-wise accuracy
    # Share of the file's cases whose edits are loaded; the others must keep their original answer.
    edited_share: float = 1.0
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)
    force_resume: bool = False
    command: str = ""
    resources: Resources = field(default_factory=Resources)


def _short(text: str) -> str:
    from agent.answers import short_answer

    return short_answer(text)


def _trace(answer: Any) -> list[dict]:
    return [{"kind": s.kind, "text": s.text[:300]} for s in answer.steps]


def _intermediates(answer: Any) -> list[str]:
    """Answers a decomposition agent recorded on its steps (data['answer']), then its final answer."""
    found = [str(s.data["answer"]) for s in answer.steps if s.data.get("answer")]
    return [*found, answer.text]


@dataclass(frozen=True)
class CaseContext:
    """What a case is asked for in its batch's memory: its target answer and whether the memory that
    batch loaded is consistent with the chain that answer rests on."""

    target: str = TARGET_NEW
    consistent: bool = True
    conflicts: tuple[dict, ...] = ()


def case_record(
    case: Case,
    memory: str,
    texts: Sequence[str],
    facts_used: Sequence[Any],
    hop_texts: Sequence[str] | None,
    intermediates: Sequence[str] | None,
    extra: dict,
    uses_memory: bool = True,
    context: CaseContext | None = None,
) -> dict:
    """Score one case from its raw outputs; everything the summary needs is stored so a resumed run
    summarises exactly as an uninterrupted one."""
    context = context or CaseContext()
    predictions = [_short(t) for t in texts]
    edited = context.target == TARGET_NEW
    answer_key, alias_key, hops_key = (
        ("new_answer", "new_answer_alias", "new_single_hops")
        if edited
        else ("answer", "answer_alias", "single_hops")
    )
    correct = metrics.case_correct(predictions, case[answer_key], case.get(alias_key, []))
    hops = case.get(hops_key, [])
    if hop_texts is not None:
        hop_predictions = [_short(t) for t in hop_texts]
        chain_ok: bool | None = metrics.hops_correct(hop_predictions, hops)
    else:
        # A decomposition agent that recorded no intermediate answer did not get the chain right; a
        # method with neither hop questions nor a trace has no hop-wise accuracy.
        hop_predictions = list(intermediates or [])
        chain_ok = (
            None if intermediates is None else metrics.intermediate_answers_cover(hop_predictions, hops)
        )
    used_pairs = [(f.subject, f.object) for f in facts_used]
    return {
        "case_id": case["case_id"],
        "target": context.target,
        "consistent": context.consistent,
        "conflicts": list(context.conflicts),
        "n_hops": len(hops),
        "n_edits": len(case["requested_rewrite"]),
        "questions": case["questions"],
        "outputs": list(texts),
        "predictions": predictions,
        "new_answer": case["new_answer"],
        "target_answer": case[answer_key],
        "correct": correct,
        "correct_contains": any(
            metrics.alias_contained(p, case[answer_key], case.get(alias_key, [])) for p in texts
        ),
        # Edited cases: answered with the original answer (the edit did not take). Unedited cases: the
        # same flag says the original answer was kept.
        "unedited": any(
            metrics.alias_match(p, case["answer"], case.get("answer_alias", [])) for p in predictions
        ),
        "hop_predictions": hop_predictions,
        "hop_correct": metrics.hop_wise_correct(correct, chain_ok),
        "facts_used": [f.sentence for f in facts_used],
        "retrieval_recall": metrics.fact_recall(needed_facts(case, memory, context.target), used_pairs)
        if uses_memory
        else None,
        **extra,
    }


def _dedupe(facts: Sequence[Any]) -> list[Any]:
    seen: dict[str, Any] = {}
    for fact in facts:
        seen.setdefault(fact.id, fact)
    return list(seen.values())


def _split(items: Sequence[Any], sizes: Sequence[int]) -> list[list[Any]]:
    """Consecutive slices of the given sizes (cases need not have three questions each)."""
    out, position = [], 0
    for size in sizes:
        out.append(list(items[position : position + size]))
        position += size
    return out


def _hop_key(context: CaseContext) -> str:
    return "new_single_hops" if context.target == TARGET_NEW else "single_hops"


def _one_generation_cases(
    method: str,
    agent: Any,
    cases: Sequence[Case],
    res: Resources,
    memory: str,
    hops: bool,
    contexts: dict[str, CaseContext],
):
    """Yield records for a chunk of cases answered with one batched call (plus one for the hops)."""
    questions = [q for c in cases for q in c["questions"]]
    start = time.perf_counter()
    answers = agent.answer_batch(questions)
    seconds = time.perf_counter() - start
    per_case = _split(answers, [len(c["questions"]) for c in cases])
    used = [_dedupe([f for a in case_answers for f in a.facts_used]) for case_answers in per_case]
    case_contexts = [contexts[str(c["case_id"])] for c in cases]
    hop_qs = [
        [h["question"] for h in c.get(_hop_key(ctx), [])] if hops else []
        for c, ctx in zip(cases, case_contexts, strict=True)
    ]
    flat_hops = [q for qs in hop_qs for q in qs]
    if not flat_hops:
        hop_out: list[Any] = []
    elif method == "instructed":
        # The chain's facts as the agent retrieved them for the multi-hop question are the instructions
        # for each hop, so hop-wise accuracy checks the same evidence the final answer rested on.
        facts_lists = [[f.sentence for f in u] for u, qs in zip(used, hop_qs, strict=True) for _ in qs]
        entity_lists = [
            entity_names((f.subject, f.object) for f in u)
            for u, qs in zip(used, hop_qs, strict=True)
            for _ in qs
        ]
        hop_out = list(res.editor().answer(flat_hops, facts_lists, entity_lists))
    else:
        hop_out = list(agent.answer_batch(flat_hops))
    hop_per_case = _split(hop_out, [len(qs) for qs in hop_qs])
    for case, case_answers, case_used, hop_answers, context in zip(
        cases, per_case, used, hop_per_case, case_contexts, strict=True
    ):
        yield case_record(
            case,
            memory,
            [a.text for a in case_answers],
            case_used,
            [h.text for h in hop_answers] if hops else None,
            None,
            {
                "seconds": seconds / len(cases),
                "model_calls": sum(a.model_calls for a in case_answers),
                # The single-hop questions asked for hop-wise accuracy, one generation each.
                "hop_model_calls": sum(getattr(h, "model_calls", 1) for h in hop_answers),
                "trace": _trace(case_answers[0]),
            },
            uses_memory=method != "base",
            context=context,
        )


def _decomposition_case(agent: Any, case: Case, memory: str, context: CaseContext) -> dict:
    start = time.perf_counter()
    answers = agent.answer_batch(list(case["questions"]))
    seconds = time.perf_counter() - start
    answer_key, alias_key = (
        ("new_answer", "new_answer_alias") if context.target == TARGET_NEW else ("answer", "answer_alias")
    )
    best = next(
        (
            a
            for a in answers
            if metrics.alias_match(_short(a.text), case[answer_key], case.get(alias_key, []))
        ),
        answers[0],
    )
    return case_record(
        case,
        memory,
        [a.text for a in answers],
        _dedupe([f for a in answers for f in a.facts_used]),
        None,
        _intermediates(best),
        {
            "latency_seconds": seconds,
            "model_calls": sum(a.model_calls for a in answers),
            "trace": _trace(best),
        },
        context=context,
    )


def _gold_cases(res: Resources, cases: Sequence[Case], use_prefixes: bool, reweight: bool, hops: bool):
    """The editor benchmark: the gold chain facts are the instructions, no retrieval at all."""
    editor = res.editor()
    facts = [gold_chain_facts(c) for c in cases]
    entities = [mquake_chain_entities(c) for c in cases]
    n_questions = [len(c["questions"]) for c in cases]
    questions = [q for c in cases for q in c["questions"]]
    start = time.perf_counter()
    switches = {"use_prefixes": use_prefixes, "reweight": reweight}
    outputs = [
        g.text
        for g in editor.answer(
            questions,
            [f for f, n in zip(facts, n_questions, strict=True) for _ in range(n)],
            [e for e, n in zip(entities, n_questions, strict=True) for _ in range(n)],
            **switches,
        )
    ]
    seconds = time.perf_counter() - start
    hop_qs = [[h["question"] for h in c["new_single_hops"]] if hops else [] for c in cases]
    hop_out = [
        g.text
        for g in editor.answer(
            [q for qs in hop_qs for q in qs],
            [f for f, qs in zip(facts, hop_qs, strict=True) for _ in qs],
            [e for e, qs in zip(entities, hop_qs, strict=True) for _ in qs],
            **switches,
        )
    ]
    per_case = _split(outputs, n_questions)
    hop_per_case = _split(hop_out, [len(qs) for qs in hop_qs])
    for i, case in enumerate(cases):
        yield case_record(
            case,
            "gold",
            per_case[i],
            [],
            hop_per_case[i] if hops else None,
            None,
            {
                "seconds": seconds / len(cases),
                # One generation per question asked.
                "model_calls": n_questions[i],
                "hop_model_calls": len(hop_per_case[i]),
                "facts_given": facts[i],
            },
            uses_memory=False,
        )


def _open_memory(
    batch: Sequence[Case], memory: str, tmp: Path, edited: set[str], retrieval: RetrievalConfig
) -> Any:
    """The batch's memory: the edits of its edited cases, and with edits+kg the background world of
    every case of the batch (an unedited case's world is loaded without its edits)."""
    from memory import Memory
    from memory.loaders import LoadOptions, read_facts

    mem = Memory.open(tmp / "store", config=retrieval)
    with_kg = memory == "edits+kg"
    edited_cases = [c for c in batch if str(c["case_id"]) in edited]
    unedited_cases = [c for c in batch if str(c["case_id"]) not in edited]
    facts = []
    if unedited_cases and with_kg:
        unedited_file = write_batch_file(unedited_cases, tmp / "unedited.json")
        facts.extend(read_facts(unedited_file, "mquake", LoadOptions(with_kg=True, edits=False)))
    if edited_cases:
        edited_file = write_batch_file(edited_cases, tmp / "batch.json")
        facts.extend(read_facts(edited_file, "mquake", LoadOptions(kind="edit", with_kg=with_kg)))
    mem.add(facts)
    return mem


def batch_contexts(batch: Sequence[Case], edited: set[str]) -> dict[str, CaseContext]:
    """Each case's target and consistency with the edits this batch's memory holds."""
    loaded = LoadedEdits(c for c in batch if str(c["case_id"]) in edited)
    contexts = {}
    for case in batch:
        target = TARGET_NEW if str(case["case_id"]) in edited else TARGET_ORIGINAL
        consistent, conflicts = consistency(case, loaded, target)
        contexts[str(case["case_id"])] = CaseContext(
            target, consistent, tuple(c.to_dict() for c in conflicts)
        )
    return contexts


class _BatchAgents:
    """One agent per edit batch in flight, built on first use and dropped after the batch's last case,
    so a thread pool keeps `concurrency` cases in flight even when every case has its own memory."""

    def __init__(self, cfg: MquakeConfig, method: str, edited: set[str]) -> None:
        self.cfg = cfg
        self.method = method
        self.edited = edited
        self.build_seconds = 0.0
        self._lock = threading.Lock()
        self._open: dict[int, tuple[Any, tempfile.TemporaryDirectory, int]] = {}

    def get(self, index: int, batch: Sequence[Case], n_todo: int) -> Any:
        with self._lock:
            if index not in self._open:
                start = time.perf_counter()
                tmp = tempfile.TemporaryDirectory(prefix="hopedit-eval-")
                mem = _open_memory(batch, self.cfg.memory, Path(tmp.name), self.edited, self.cfg.retrieval)
                self._open[index] = (self.cfg.resources.agent(self.method, mem), tmp, n_todo)
                self.build_seconds += time.perf_counter() - start
            return self._open[index][0]

    def release(self, index: int, n: int = 1) -> None:
        with self._lock:
            agent, tmp, left = self._open[index]
            if left - n > 0:
                self._open[index] = (agent, tmp, left - n)
            else:
                del self._open[index]
                tmp.cleanup()


def run_method(cfg: MquakeConfig, method: str, run_dir: Path) -> dict:
    """Run (or resume) one method into run_dir and return its summary."""
    run_dir.mkdir(parents=True, exist_ok=True)
    cases = load_cases(cfg.data)
    selected = selected_ids(cases, cfg.limit, cfg.seed)
    wanted = {str(i) for i in selected}
    edited = edited_case_ids(cases, cfg.edited_share, cfg.seed)
    log = CaseLog(run_dir / "cases.jsonl")
    res = cfg.resources
    uses_prefixes = method == "instructed" or (cfg.gold_facts and cfg.use_prefixes)
    check = res.answer_check if method == "instructed" and not cfg.gold_facts else None
    fingerprint = make_fingerprint(
        data=cfg.data,
        command=cfg.command,
        options={
            "method": method,
            "memory": "gold" if cfg.gold_facts else cfg.memory,
            "edits": "gold" if cfg.gold_facts else cfg.edits,
            "limit": cfg.limit,
            "seed": cfg.seed,
            "edited_share": cfg.edited_share,
            "hops": cfg.hops,
            "reweight": cfg.reweight,
            "use_prefixes": cfg.use_prefixes,
            "llm_url": res.llm_url,
            "prompt_lookup": res.prompt_lookup.to_dict(),
            "answer_check": check is not None,
            **({"answer_check_config": check.to_dict()} if check is not None else {}),
        },
        retrieval_config=None if cfg.gold_facts or method == "base" else cfg.retrieval.to_dict(),
        model_spec=res.model_spec,
        prefixes=res.prefixes,
        uses_model=res.llm_url is None,
        uses_prefixes=uses_prefixes,
    )
    try:
        fingerprint = check_and_record(run_dir, fingerprint, bool(log.records), cfg.force_resume)
    except Exception:
        log.close()
        raise
    wall_start = time.perf_counter()
    agents = _BatchAgents(cfg, method, edited)
    with progress_bar(f"{method} ({cfg.memory}, {cfg.edits} edits)", total=len(wanted)) as advance:
        advance(len(wanted & log.done))

        def finish(record: dict) -> None:
            log.append(record)
            advance(1)

        todo_ids = wanted - log.done
        if cfg.gold_facts:
            todo = [c for c in cases if str(c["case_id"]) in todo_ids]
            for start in range(0, len(todo), cfg.batch_cases):
                batch = todo[start : start + cfg.batch_cases]
                for record in _gold_cases(res, batch, cfg.use_prefixes, cfg.reweight, cfg.hops):
                    finish(record)
        else:
            batches = [
                (index, batch, [c for c in batch if str(c["case_id"]) in todo_ids])
                for index, batch in enumerate(edit_batches(cases, cfg.edits, cfg.seed))
            ]
            batches = [b for b in batches if b[2]]
            if method in ONE_GENERATION:
                for index, batch, todo in batches:
                    agent = agents.get(index, batch, len(todo))
                    for start in range(0, len(todo), cfg.batch_cases):
                        chunk = todo[start : start + cfg.batch_cases]
                        contexts = batch_contexts(batch, edited)
                        for record in _one_generation_cases(
                            method, agent, chunk, res, cfg.memory, cfg.hops, contexts
                        ):
                            finish(record)
                    agents.release(index, len(todo))
            else:

                def one_case(index: int, batch: Sequence[Case], n_todo: int, case: Case) -> dict:
                    context = batch_contexts(batch, edited)[str(case["case_id"])]
                    try:
                        agent = agents.get(index, batch, n_todo)
                        return _decomposition_case(agent, case, cfg.memory, context)
                    finally:
                        agents.release(index)

                with ThreadPoolExecutor(max_workers=cfg.concurrency) as pool:
                    futures = [
                        pool.submit(one_case, index, batch, len(todo), case)
                        for index, batch, todo in batches
                        for case in todo
                    ]
                    last = time.perf_counter()
                    for future in as_completed(futures):
                        # Cases overlap, so their latencies add up to far more than the run took; a case's
                        # `seconds` is the wall time since the previous case finished, which sums to the
                        # run's wall time (over resumed sessions too), as a batch's share does.
                        record = future.result()
                        now = time.perf_counter()
                        finish(record | {"seconds": now - last})
                        last = now
    log.close()
    records = [r for r in log.records if str(r["case_id"]) in wanted]
    answer_seconds = sum(r["seconds"] for r in records)
    summary = {
        "benchmark": "mquake",
        "method": method,
        "memory": "gold" if cfg.gold_facts else cfg.memory,
        "edits": "gold" if cfg.gold_facts else cfg.edits,
        "data": cfg.data.name,
        "limit": cfg.limit,
        "seed": cfg.seed,
        "model": fingerprint.get("base_model", res.llm_url),
        "prefixes_sha256": fingerprint.get("prefixes_sha256"),
        "llm_url": res.llm_url,
        "edited_share": cfg.edited_share,
        **metrics.summarize_mquake(records),
        "model_calls_per_question": metrics.safe_mean(
            r["model_calls"] / len(r["questions"]) for r in records
        ),
        "seconds": answer_seconds,
        "questions_per_second": (
            sum(len(r["questions"]) for r in records) / answer_seconds if answer_seconds else None
        ),
        "wall_seconds": time.perf_counter() - wall_start,
        "memory_build_seconds": agents.build_seconds,
        "command": cfg.command,
        "fingerprint": fingerprint,
    }
    write_json(run_dir / "summary.json", summary)
    return summary


def gold_method_name(cfg: MquakeConfig) -> str:
    if not cfg.use_prefixes:
        return "base+gold"  # the unedited model given the same instructions
    return GOLD_METHOD + ("" if cfg.reweight else "-noreweight")


def run_mquake(cfg: MquakeConfig) -> list[Path]:
    """One result folder per method: DIR itself for one method, DIR/<method> for several."""
    methods = [gold_method_name(cfg)] if cfg.gold_facts else cfg.methods
    dirs = []
    for method in methods:
        run_dir = cfg.out if len(methods) == 1 else cfg.out / method
        run_method(cfg, method, run_dir)
        dirs.append(run_dir)
    return dirs


def rescore_consistency(data: Path, run_dir: Path, only: set[str] | None = None) -> dict:
    """Score an existing run (made before consistency was recorded) on all and consistent cases.

    The run's memory is rebuilt in thought only: its summary names the edit batches (`edits`, `seed`),
    so each case's consistency with the edits its batch loaded follows from the data alone; every case
    of such runs had its edits loaded (edited share 1). Nothing is asked again. `only`: score just these
    case ids, to compare with a newer run that has not finished every case."""
    from evals.results import read_cases, read_json

    summary = read_json(run_dir / "summary.json")
    if summary.get("edits") in (None, "gold"):
        raise ValueError(f"{run_dir}: not an edit-batch MQuAKE run")
    cases = load_cases(data)
    everyone = {str(c["case_id"]) for c in cases}
    contexts: dict[str, CaseContext] = {}
    for batch in edit_batches(cases, str(summary["edits"]), int(summary.get("seed", 0))):
        contexts.update(batch_contexts(batch, everyone))
    records = [r for r in read_cases(run_dir / "cases.jsonl") if only is None or str(r["case_id"]) in only]
    rescored = [{**r, "consistent": contexts[str(r["case_id"])].consistent} for r in records]
    return {
        "run": str(run_dir),
        "method": summary.get("method"),
        "memory": summary.get("memory"),
        "edits": summary.get("edits"),
        **metrics.summarize_mquake(rescored),
    }

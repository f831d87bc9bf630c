"""`hopedit eval mquake|portability|report` and `hopedit bench`.

Heavy modules (torch, chroma, the agents) are imported inside the commands so `hopedit --help` stays fast.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

from editor.prompt_lookup import PromptLookupConfig

METHODS = ("base", "ike", "mello", "pokemqa", "instructed")


def _command_line() -> str:
    """The exact command, stored in every summary and report so each number can be reproduced."""
    return shlex.join(["hopedit", *sys.argv[1:]])


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def _check_file(path: Path) -> None:
    if not path.is_file():
        _fail(f"{path}: no such file")


def _methods(value: str) -> list[str]:
    methods = [m.strip() for m in value.split(",") if m.strip()]
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        _fail(f"--method: unknown {', '.join(unknown) or '(empty)'}; choose from {', '.join(METHODS)}")
    return methods


def _resources(
    model: str | None,
    llm_url: str | None,
    llm_model: str | None,
    kgprompt: Path | None = None,
    prefixes: Path | None = None,
    answer_check: bool = True,
    answer_check_config: Path | None = None,
    draft_tokens: int | None = None,
):
    from agent.answer_check import AnswerCheckConfig
    from evals.resources import Resources, load_kgprompt

    if prefixes is not None and not (prefixes / "prefixes.safetensors").is_file():
        _fail(f"{prefixes}: no prefixes.safetensors (a `hopedit train` output's prefixes/ folder)")
    if kgprompt is not None:
        _check_file(kgprompt)
        try:
            prompts = load_kgprompt(kgprompt)
        except (ValueError, AttributeError) as err:
            _fail(f"{kgprompt}: not a PokeMQA kgprompt file ({err})")
    check_config = AnswerCheckConfig() if answer_check else None
    if answer_check_config is not None:
        if not answer_check:
            _fail(
                "--answer-check-config gives settings for the answer check that --no-answer-check turns off"
            )
        _check_file(answer_check_config)
        try:
            check_config = AnswerCheckConfig.from_yaml(answer_check_config)
        except (OSError, ValueError) as err:
            _fail(f"answer check settings: {err}")
    return Resources(
        model_spec=model,
        llm_url=llm_url,
        llm_model=llm_model,
        kgprompt=prompts if kgprompt else None,
        prefixes=prefixes,
        answer_check=check_config,
        prompt_lookup=None if draft_tokens is None else PromptLookupConfig(draft_tokens=draft_tokens),
    )


ModelOption = Annotated[str | None, typer.Option("--model", help="Base model spec (default: shipped model).")]
LimitOption = Annotated[int | None, typer.Option("--limit", help="Evaluate only the first N cases.")]
DraftTokensOption = Annotated[
    int | None,
    typer.Option(
        "--draft-tokens",
        min=0,
        help="Guessed (prompt lookup) tokens the model checks per pass when one greedy row decodes "
        f"(0: off; default {PromptLookupConfig.draft_tokens}).",
    ),
]
PrefixesOption = Annotated[
    Path | None, typer.Option("--prefixes", help="Trained prefixes folder (default: the shipped ones).")
]


RetrievalConfigOption = Annotated[
    Path | None, typer.Option("--retrieval-config", help="YAML of retrieval settings (RetrievalConfig).")
]
GateOption = Annotated[
    str | None, typer.Option("--gate", help="evidence (default) | std (the paper's, an ablation) | none.")
]
WalkOption = Annotated[str | None, typer.Option("--walk", help="beam (default) | greedy (an ablation).")]
BeamOption = Annotated[int | None, typer.Option("--beam-width", help="Paths kept per hop.")]


def retrieval_settings(path: Path | None, gate: str | None, walk: str | None, beam_width: int | None):
    """The retrieval configuration: defaults, then the YAML file, then the flags."""
    from memory.retrieval import RetrievalConfig

    try:
        config = RetrievalConfig.from_yaml(path) if path is not None else RetrievalConfig()
        return config.with_overrides(gate=gate, walk=walk, beam_width=beam_width)
    except (OSError, ValueError, TypeError) as err:
        _fail(f"retrieval settings: {err}")
        raise


def register(app: typer.Typer) -> None:
    eval_app = typer.Typer(help="Benchmarks: MQuAKE multi-hop editing, one-hop portability, merged reports.")
    app.add_typer(eval_app, name="eval")
    eval_app.command("mquake")(eval_mquake)
    eval_app.command("portability")(eval_portability)
    eval_app.command("report")(eval_report)
    eval_app.command("sources")(eval_sources)
    app.command("bench")(bench)
    eval_app.command("retrieval")(eval_retrieval)
    eval_app.command("locality")(eval_locality)
    eval_app.command("consistency")(eval_consistency)
    app.command("retrieval-bench")(eval_retrieval)


def eval_mquake(
    data: Annotated[Path, typer.Option("--data", help="MQuAKE JSON file (list of records).")],
    method: Annotated[
        str, typer.Option("--method", help="Comma-separated: " + ", ".join(METHODS))
    ] = "instructed",
    edits: Annotated[
        str, typer.Option("--edits", help="Cases whose edits share a memory: 1, 100, all.")
    ] = "all",
    memory: Annotated[str, typer.Option("--memory", help="edits | edits+kg (background KG).")] = "edits",
    limit: LimitOption = None,
    seed: Annotated[int, typer.Option("--seed", help="Seeds the case order (subset, edit batches).")] = 0,
    out: Annotated[Path, typer.Option("--out", help="Result folder (resumed if present).")] = Path(
        "results/mquake"
    ),
    gold_facts: Annotated[
        bool, typer.Option("--gold-facts", help="Editor benchmark: gold chain facts as instructions.")
    ] = False,
    no_prefixes: Annotated[
        bool, typer.Option("--no-prefixes", help="With --gold-facts: the base model on the same prompts.")
    ] = False,
    no_reweight: Annotated[
        bool, typer.Option("--no-reweight", help="With --gold-facts: prefixes without re-weighting.")
    ] = False,
    llm_url: Annotated[str | None, typer.Option("--llm-url", help="OpenAI-compatible server.")] = None,
    llm_model: Annotated[str | None, typer.Option("--llm-model", help="Model name on --llm-url.")] = None,
    concurrency: Annotated[int, typer.Option("--concurrency", help="Decomposition cases in flight.")] = 4,
    batch_cases: Annotated[int, typer.Option("--batch-cases", help="Cases per batched call.")] = 8,
    hops: Annotated[
        bool, typer.Option("--hops/--no-hops", help="Ask single-hop questions (hop-wise).")
    ] = True,
    kgprompt: Annotated[
        Path | None, typer.Option("--kgprompt", help="PokeMQA knowledge prompts (JSON keyed by case_id).")
    ] = None,
    model: ModelOption = None,
    prefixes: PrefixesOption = None,
    edited_share: Annotated[
        float,
        typer.Option(
            "--edited-share",
            help="Share (0-1] of cases whose edits are loaded; the rest must keep their original answer.",
        ),
    ] = 1.0,
    force_resume: Annotated[
        bool,
        typer.Option("--force-resume", help="Resume a result folder made by another configuration."),
    ] = False,
    retrieval_config: RetrievalConfigOption = None,
    gate: GateOption = None,
    walk: WalkOption = None,
    beam_width: BeamOption = None,
    answer_check: Annotated[
        bool,
        typer.Option(
            "--answer-check/--no-answer-check",
            help="Check the pipeline's answers against the retrieved chain (off: an ablation).",
        ),
    ] = True,
    answer_check_config: Annotated[
        Path | None,
        typer.Option("--answer-check-config", help="YAML of answer check settings (AnswerCheckConfig)."),
    ] = None,
    draft_tokens: DraftTokensOption = None,
) -> None:
    """Multi-hop accuracy, hop-wise accuracy, recall and speed on MQuAKE; writes summary/cases/report.

    Every summary gives the accuracy on all cases and on the consistent ones (no loaded edit of
    another case contradicts the case's gold chain)."""
    from evals.fingerprint import FingerprintMismatchError
    from evals.mquake import MquakeConfig, run_mquake
    from evals.mquake_data import EvalDataError
    from evals.report import find_summaries, write_report
    from evals.results import RunLockedError

    _check_file(data)
    if edits != "all" and not edits.isdigit():
        _fail(f"--edits must be a number or 'all', got {edits!r}")
    if memory not in ("edits", "edits+kg"):
        _fail(f"--memory must be 'edits' or 'edits+kg', got {memory!r}")
    if not 0.0 < edited_share <= 1.0:
        _fail(f"--edited-share must be in (0, 1], got {edited_share}")
    retrieval = retrieval_settings(retrieval_config, gate, walk, beam_width)
    cfg = MquakeConfig(
        data=data,
        methods=_methods(method),
        out=out,
        edits=edits,
        memory=memory,
        limit=limit,
        seed=seed,
        concurrency=concurrency,
        batch_cases=batch_cases,
        gold_facts=gold_facts,
        use_prefixes=not no_prefixes,
        reweight=not no_reweight,
        hops=hops,
        edited_share=edited_share,
        retrieval=retrieval,
        force_resume=force_resume,
        command=_command_line(),
        resources=_resources(
            model, llm_url, llm_model, kgprompt, prefixes, answer_check, answer_check_config, draft_tokens
        ),
    )
    try:
        dirs = run_mquake(cfg)
    except (EvalDataError, RunLockedError, FingerprintMismatchError) as err:
        _fail(str(err))
    summaries = [s for d in dirs for _, s in find_summaries([d])]
    for d in dirs:
        write_report([s for _, s in find_summaries([d])], d)
    if len(dirs) > 1:
        write_report(summaries, out)
    _print_mquake(summaries)


def eval_portability(
    data: Annotated[Path, typer.Option("--data", help="CounterFact/ZsRE portability JSON file.")],
    mode: Annotated[str, typer.Option("--mode", help="gold | retrieval | sequential.")] = "gold",
    method: Annotated[str, typer.Option("--method", help="instructed | base (unedited).")] = "instructed",
    limit: LimitOption = None,
    sequential_n: Annotated[int, typer.Option("--sequential-n", help="Edits added one by one.")] = 100,
    max_loc: Annotated[
        int | None, typer.Option("--max-loc", help="Neighbourhood prompts per record.")
    ] = None,
    no_prefixes: Annotated[bool, typer.Option("--no-prefixes", help="Ablation: no prefixes.")] = False,
    no_reweight: Annotated[bool, typer.Option("--no-reweight", help="Ablation: no reweighting.")] = False,
    task_instruction: Annotated[
        str | None,
        typer.Option("--task-instruction", help="Prepend this data source's task line (InstructEdit)."),
    ] = None,
    out: Annotated[Path, typer.Option("--out", help="Result folder (resumed).")] = Path(
        "results/portability"
    ),
    model: ModelOption = None,
    prefixes: PrefixesOption = None,
) -> None:
    """Rel/Gen/Loc/Por (+Rep/Rev), Score and H, exact match and teacher-forced token accuracy."""
    from evals.fingerprint import FingerprintMismatchError
    from evals.mquake_data import EvalDataError
    from evals.portability import MODES, PortabilityConfig, run_portability
    from evals.report import write_report
    from evals.results import RunLockedError

    _check_file(data)
    if mode not in MODES:
        _fail(f"--mode must be one of {', '.join(MODES)}, got {mode!r}")
    if method not in ("instructed", "base"):
        _fail(f"--method must be 'instructed' or 'base', got {method!r}")
    from editor.train.data import TASK_INSTRUCTIONS

    if task_instruction is not None and task_instruction not in TASK_INSTRUCTIONS:
        _fail(f"--task-instruction must be one of {', '.join(TASK_INSTRUCTIONS)}, got {task_instruction!r}")
    cfg = PortabilityConfig(
        data=data,
        out=out,
        mode=mode,
        method=method,
        use_prefixes=not no_prefixes,
        reweight=not no_reweight,
        limit=limit,
        sequential_n=sequential_n,
        max_loc=max_loc,
        task_line=TASK_INSTRUCTIONS[task_instruction] if task_instruction else None,
        command=_command_line(),
        resources=_resources(model, None, None, prefixes=prefixes),
    )
    try:
        summary = run_portability(cfg)
    except (EvalDataError, RunLockedError, FingerprintMismatchError) as err:
        _fail(str(err))
    write_report([summary], out)
    typer.echo(json.dumps(summary["metrics"], indent=2))


def eval_report(
    dirs: Annotated[list[Path], typer.Argument(help="Result folders (searched for summary.json).")],
    out: Annotated[
        Path | None, typer.Option("--out", help="Where report.md/png go (default: first DIR).")
    ] = None,
) -> None:
    """Merge several result folders into one table and one plot."""
    from evals.report import find_summaries, write_report

    found = find_summaries(dirs)
    if not found:
        _fail(f"no summary.json under {', '.join(map(str, dirs))}")
    md, png = write_report([s for _, s in found], out or dirs[0])
    typer.echo(md.read_text(encoding="utf-8"))
    typer.echo(f"wrote {md} and {png}")


def eval_sources(
    dirs: Annotated[list[Path], typer.Argument(help="MeLLo or PokeMQA result folders.")],
    data: Annotated[Path, typer.Option("--data", help="The benchmark file the runs used.")],
) -> None:
    """Count which kind of fact each decomposition run's traces used: own edit, other edit, background."""
    from evals.fact_sources import fact_sources

    _check_file(data)
    typer.echo("| run | fact steps | own edit | other edit | background | background % |")
    typer.echo("| --- | --- | --- | --- | --- | --- |")
    for run_dir in dirs:
        try:
            row = fact_sources(data, run_dir)
        except (ValueError, FileNotFoundError) as error:
            _fail(str(error))
        share = "–" if row["background_share"] is None else f"{100 * row['background_share']:.1f}"
        typer.echo(
            f"| {run_dir} | {row['fact_steps']} | {row['own edit']} | {row['other edit']} "
            f"| {row['background']} | {share} |"
        )


def bench(
    method: Annotated[str, typer.Option("--method", help="Comma-separated methods.")] = "base,instructed",
    data: Annotated[Path | None, typer.Option("--data", help="MQuAKE file (default: shipped cases).")] = None,
    n_questions: Annotated[int, typer.Option("--questions", help="Questions per method.")] = 30,
    n_single: Annotated[int, typer.Option("--single", help="Questions timed one at a time.")] = 10,
    scales: Annotated[
        str, typer.Option("--scales", help="Memory sizes for query latency.")
    ] = "1000,10000,100000",
    out: Annotated[Path, typer.Option("--out", help="Folder for bench.json.")] = Path("results/bench"),
    skip_cold_start: Annotated[
        bool, typer.Option("--skip-cold-start", help="Skip the fresh-process ask/chat/serve timings.")
    ] = False,
    modes: Annotated[
        str, typer.Option("--modes", help="Memory modes to scale: embedded, server (a Chroma server).")
    ] = "embedded,server",
    model: ModelOption = None,
    draft_tokens: DraftTokensOption = None,
) -> None:
    """Speed per method, memory scaling (embedded and server), cold start and RSS per command, CPU rates."""
    from evals.bench import BenchConfig, print_bench, run_bench

    if data is not None:
        _check_file(data)
    try:
        sizes = [int(s) for s in scales.split(",") if s.strip()]
    except ValueError:
        _fail(f"--scales must be comma-separated integers, got {scales!r}")
    try:
        cfg = BenchConfig(
            methods=_methods(method),
            data=data,
            n_questions=n_questions,
            n_single=n_single,
            scales=sizes,
            out=out,
            modes=[m.strip() for m in modes.split(",") if m.strip()],
            cold_start=not skip_cold_start,
            command=_command_line(),
            resources=_resources(model, None, None, draft_tokens=draft_tokens),
        )
    except ValueError as error:
        _fail(str(error))
    print_bench(run_bench(cfg))


def eval_retrieval(
    data: Annotated[Path, typer.Option("--data", help="MQuAKE JSON file with the cases")],
    memory: Annotated[str, typer.Option("--memory", help="edits, edits+kg, or both")] = "both",
    limit: Annotated[int | None, typer.Option("--limit", help="Only the first N cases")] = None,
    sample: Annotated[
        int | None, typer.Option("--sample", help="Ask a seeded sample of N cases' questions (all loaded).")
    ] = None,
    out: Annotated[Path, typer.Option("--out", help="Directory for the JSON and PNG results")] = Path(
        "runs/retrieval-bench"
    ),
    retrieval_config: RetrievalConfigOption = None,
    gate: GateOption = None,
    walk: WalkOption = None,
    beam_width: BeamOption = None,
) -> None:
    """Share of multi-hop questions whose needed facts all reach the model, per retrieval variant."""
    from rich.console import Console
    from rich.progress import Progress

    from evals.fingerprint import make_fingerprint
    from evals.retrieval_bench import SETTINGS, run_retrieval_bench

    settings = SETTINGS if memory == "both" else (memory,)
    if any(setting not in SETTINGS for setting in settings):
        _fail(f"--memory must be edits, edits+kg or both, got {memory!r}")
    _check_file(data)
    config = retrieval_settings(retrieval_config, gate, walk, beam_width)
    # Taken before the run: the code and data it describes are those the run starts with.
    fingerprint = make_fingerprint(
        data=data,
        command=_command_line(),
        options={"memory": memory, "limit": limit, "sample": sample},
        retrieval_config=config.to_dict(),
        uses_model=False,
        uses_prefixes=False,
    )
    console = Console(stderr=True)
    reports = []
    with Progress(console=console) as progress:
        tasks: dict[str, int] = {}
        for setting in settings:

            def report(stage: str, done: int, total: int, setting: str = setting) -> None:
                key = f"{setting}: {stage}"
                if key not in tasks:
                    tasks[key] = progress.add_task(key, total=total)
                progress.update(tasks[key], completed=done)

            reports.append(run_retrieval_bench(data, setting, limit, config, progress=report, sample=sample))
    out.mkdir(parents=True, exist_ok=True)
    summary = {"benchmark": "retrieval", "fingerprint": fingerprint, "settings": reports}
    (out / "retrieval_bench.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    lines = [
        "| memory | variant | questions | recall % | recall % consistent | gated % | p50 ms | p95 ms |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for entry in reports:
        for name, result in entry["variants"].items():
            lines.append(
                f"| {entry['setting']} | {name} | {entry['questions']} "
                f"| {100 * result['question_recall']:.1f} | {100 * result['question_recall_consistent']:.1f} "
                f"| {100 * result['gated_share']:.1f} | {result['latency_ms_p50']:.1f} "
                f"| {result['latency_ms_p95']:.1f} |"
            )
    (out / "retrieval_bench.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    typer.echo("\n".join(lines))
    for entry in reports:
        typer.echo(
            f"{entry['setting']}: {entry['memory']['active']} active facts, "
            f"load {entry['load_seconds']:.1f} s, "
            f"{entry['consistent_questions']} of {entry['questions']} questions consistent, needed facts all "
            f"active for {100 * entry['needed_facts_active']:.1f}%"
        )
    _plot_retrieval(reports, out / "retrieval_bench.png")
    typer.echo(f"wrote retrieval_bench.json, .md and .png in {out}")


def _plot_retrieval(reports: list[dict], path: Path) -> None:
    """One horizontal bar per variant and memory setting: recall on consistent questions."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(reports[0]["variants"])
    fig, axes = plt.subplots(
        1, len(reports), figsize=(6 * len(reports), 0.5 * len(names) + 1.5), squeeze=False
    )
    for axis, entry in zip(axes[0], reports, strict=True):
        values = [100 * (entry["variants"][n]["question_recall_consistent"] or 0) for n in names]
        bars = axis.barh(range(len(names)), values, color="#4c72b0")
        axis.set_yticks(range(len(names)))
        axis.set_yticklabels(names if axis is axes[0][0] else [""] * len(names))
        axis.invert_yaxis()
        axis.set_xlim(0, 100)
        axis.set_xlabel("needed facts delivered, consistent questions (%)")
        axis.set_title(f"{entry['setting']} ({entry['consistent_questions']} questions)")
        for bar, value in zip(bars, values, strict=True):
            axis.text(value + 1, bar.get_y() + bar.get_height() / 2, f"{value:.1f}", va="center")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def eval_locality(
    memory_data: Annotated[Path, typer.Option("--memory-data", help="MQuAKE file that fills the memory.")],
    probes: Annotated[
        list[Path], typer.Option("--probes", help="ZsRE/CounterFact portability file(s) with Loc probes.")
    ],
    memory: Annotated[str, typer.Option("--memory", help="edits | edits+kg.")] = "edits+kg",
    max_loc: Annotated[
        int | None, typer.Option("--max-loc", help="Neighbourhood prompts per record.")
    ] = None,
    limit: LimitOption = None,
    out: Annotated[Path, typer.Option("--out", help="Result folder.")] = Path("results/locality"),
    retrieval_config: RetrievalConfigOption = None,
    gate: GateOption = None,
    model: ModelOption = None,
    prefixes: PrefixesOption = None,
) -> None:
    """Share of unrelated probes answered exactly as the unedited model does, with a full memory loaded."""
    from evals.locality import LocalityConfig, run_locality
    from evals.mquake_data import EvalDataError

    _check_file(memory_data)
    for path in probes:
        _check_file(path)
    cfg = LocalityConfig(
        memory_data=memory_data,
        probe_files=list(probes),
        out=out,
        memory=memory,
        max_loc=max_loc,
        limit=limit,
        retrieval=retrieval_settings(retrieval_config, gate, None, None),
        command=_command_line(),
        resources=_resources(model, None, None, prefixes=prefixes),
    )
    try:
        summary = run_locality(cfg)
    except EvalDataError as err:
        _fail(str(err))
    typer.echo("| probes | n | same as unedited % | gated % |")
    typer.echo("| --- | --- | --- | --- |")
    for name, row in summary["results"].items():
        typer.echo(
            f"| {name} | {row['probes']} | {100 * row['same_as_unedited']:.1f} "
            f"| {100 * row['gated_share']:.1f} |"
        )


def eval_consistency(
    dirs: Annotated[list[Path], typer.Argument(help="MQuAKE result folders made before the protocol.")],
    data: Annotated[Path, typer.Option("--data", help="The benchmark file the runs used.")],
    cases_from: Annotated[
        Path | None, typer.Option("--cases-from", help="Score only the cases this result folder holds.")
    ] = None,
) -> None:
    """All-cases and consistent-cases accuracy of older runs, from their stored cases (nothing re-asked)."""
    from evals.mquake import rescore_consistency
    from evals.results import read_cases

    _check_file(data)
    only = None
    if cases_from is not None:
        only = {str(r["case_id"]) for r in read_cases(cases_from / "cases.jsonl")}
        if not only:
            _fail(f"{cases_from}: no cases.jsonl with finished cases")
    summaries = []
    for run_dir in dirs:
        try:
            summaries.append(rescore_consistency(data, run_dir, only))
        except (ValueError, FileNotFoundError, KeyError) as error:
            _fail(f"{run_dir}: {error}")
    typer.echo(
        "| run | cases | multi-hop (all) | consistent | multi-hop (consistent) | recall (consistent) |"
    )
    typer.echo("| --- | --- | --- | --- | --- | --- |")
    for s in summaries:
        recall = s.get("retrieval_recall_consistent")
        recall_text = "–" if recall is None else f"{100 * recall:.1f}"
        typer.echo(
            f"| {s['run']} | {s['n_cases']} | {100 * s['multihop_acc']:.1f} | {s['n_consistent']} "
            f"| {100 * s['multihop_acc_consistent']:.1f} | {recall_text} |"
        )


def _print_mquake(summaries: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="MQuAKE (all cases / consistent cases only)")
    columns = ("method", "memory", "edits", "cases", "consistent", "multi-hop %", "multi-hop % consistent")
    for column in (
        *columns,
        "hop-wise %",
        "recall %",
        "recall % consistent",
        "edited %",
        "unedited %",
        "q/s",
    ):
        table.add_column(column)
    for s in summaries:

        def pct(key: str, s: dict = s) -> str:
            return "–" if s.get(key) is None else f"{100 * s[key]:.1f}"

        qps = s.get("questions_per_second")
        table.add_row(
            s["method"],
            s["memory"],
            str(s["edits"]),
            str(s["n_cases"]),
            str(s.get("n_consistent", "–")),
            pct("multihop_acc"),
            pct("multihop_acc_consistent"),
            pct("hop_acc"),
            pct("retrieval_recall"),
            pct("retrieval_recall_consistent"),
            pct("edited_acc"),
            pct("unedited_acc"),
            "–" if qps is None else f"{qps:.2f}",
        )
    if sys.stdout.isatty():
        Console().print(table)
        return
    # Piped: one tab-separated row per run, nothing wrapped or cut.
    typer.echo("\t".join(column.header for column in table.columns))
    for index in range(table.row_count):
        typer.echo("\t".join(str(column._cells[index]) for column in table.columns))

"""`hopedit facts ...` and `hopedit retrieval-bench`: the memory from the command line.

Heavy modules (chromadb, torch via the embedder) are imported inside the commands so `hopedit --help`
stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from memory.core import Memory
    from memory.facts import Fact

console = Console()
errors = Console(stderr=True)

StoreOption = Annotated[
    Path | None,
    typer.Option("--store", help="Memory directory (default: $HOPEDIT_HOME or the user data dir)."),
]
UrlOption = Annotated[
    str | None,
    typer.Option("--chroma-url", help="Use a Chroma server (http://host:port) instead of --store."),
]


def _fail(message: str) -> typer.Exit:
    errors.print(message, markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(2)


def _open(store: Path | None, chroma_url: str | None) -> Memory:
    from memory.core import Memory

    try:
        return Memory.open(store, chroma_url)
    except ValueError as error:
        raise _fail(f"error: {error}") from None
    except Exception as error:  # chromadb raises bare exceptions for unreachable servers and bad dirs
        raise _fail(f"error: cannot open the memory ({type(error).__name__}: {error})") from None


def _fact_table(facts: list[Fact], title: str, scores: list[float] | None = None) -> Table:
    table = Table(title=title, show_lines=False)
    if scores is not None:
        table.add_column("score", justify="right")
    for column in ("id", "subject", "relation", "object", "kind", "active", "sentence"):
        table.add_column(column, overflow="fold")
    for index, fact in enumerate(facts):
        row = [
            fact.id,
            fact.subject,
            fact.relation,
            fact.object,
            fact.kind,
            "yes" if fact.active else f"no (by {fact.superseded_by})" if fact.superseded_by else "no",
            fact.sentence,
        ]
        table.add_row(*([f"{scores[index]:.3f}"] if scores is not None else []), *row)
    return table


def load(
    path: Annotated[Path, typer.Argument(help="Fact file: .nt .ttl .csv .tsv .jsonl or MQuAKE .json")],
    format: Annotated[
        str | None,
        typer.Option("--format", help="nt, turtle, csv, tsv, jsonl or mquake (default: by extension)"),
    ] = None,
    kind: Annotated[str, typer.Option("--as", help="edit or background")] = "edit",
    with_kg: Annotated[
        bool, typer.Option("--with-kg", help="MQuAKE: also load the cases' background knowledge graph")
    ] = False,
    store: StoreOption = None,
    chroma_url: UrlOption = None,
) -> None:
    """Load facts from a file; the whole file is validated before anything is written."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from memory.loaders import FactFileError, LoadOptions, read_facts

    if kind not in ("edit", "background"):
        raise _fail(f"error: --as must be edit or background, got {kind!r}")
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=errors,
    ) as progress:
        reading = progress.add_task(f"reading {path.name}", total=None)
        try:
            facts = read_facts(
                path, format, LoadOptions(kind=kind, with_kg=with_kg), lambda n: progress.advance(reading, n)
            )
        except FactFileError as error:
            progress.stop()
            raise _fail(str(error)) from None
        progress.update(reading, total=progress.tasks[reading].completed)
        memory = _open(store, chroma_url)
        tasks: dict[str, int] = {}

        def report(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=total)
            progress.update(tasks[stage], completed=done)

        result = memory.add(facts, report)
    active = sum(fact.active for fact in result.added)
    console.print(
        f"{path}: {len(facts)} facts read; {len(result.added)} stored ({active} active), "
        f"{len(result.superseded)} superseded, {len(result.unchanged)} already present"
    )


def add(
    subject: str,
    relation: str,
    obj: Annotated[str, typer.Argument(metavar="OBJECT")],
    sentence: Annotated[str | None, typer.Option("--sentence", help="Sentence form of the fact")] = None,
    kind: Annotated[str, typer.Option("--as", help="edit or background")] = "edit",
    store: StoreOption = None,
    chroma_url: UrlOption = None,
) -> None:
    """Add one fact; it supersedes the active fact with the same subject and relation."""
    from memory.facts import Fact

    if kind not in ("edit", "background"):
        raise _fail(f"error: --as must be edit or background, got {kind!r}")
    try:
        fact = Fact(subject, relation, obj, sentence=sentence or "", kind=kind, source="cli")
    except ValueError as error:
        raise _fail(f"error: {error}") from None
    result = _open(store, chroma_url).add([fact])
    if result.unchanged:
        console.print(f"already present: {result.unchanged[0].id}")
        return
    stored = result.added[0]
    console.print(_fact_table([stored], "added"))
    for old in result.superseded:
        console.print(f"superseded {old.id}: {old.sentence}")
    if not stored.active:
        console.print(f"stored as history: the edit {stored.superseded_by} outranks background knowledge")


def list_facts(
    all_versions: Annotated[bool, typer.Option("--all", help="Include superseded versions")] = False,
    kind: Annotated[str | None, typer.Option("--kind", help="edit or background")] = None,
    store: StoreOption = None,
    chroma_url: UrlOption = None,
) -> None:
    """List the facts in the memory."""
    facts = _open(store, chroma_url).facts(active_only=not all_versions, kind=kind)  # type: ignore[arg-type]
    console.print(_fact_table(facts, f"{len(facts)} facts"))


def search(
    query: str,
    k: Annotated[int, typer.Option("-k", help="How many facts")] = 5,
    store: StoreOption = None,
    chroma_url: UrlOption = None,
) -> None:
    """Dense search over the active facts."""
    hits = _open(store, chroma_url).search(query, k)
    console.print(_fact_table([hit.fact for hit in hits], query, [hit.score for hit in hits]))


def history(subject: str, relation: str, store: StoreOption = None, chroma_url: UrlOption = None) -> None:
    """All versions of (subject, relation), oldest first."""
    facts = _open(store, chroma_url).history(subject, relation)
    if not facts:
        raise _fail(f"no facts for ({subject}, {relation})")
    console.print(_fact_table(facts, f"history of ({subject}, {relation})"))


def remove(fact_id: str, store: StoreOption = None, chroma_url: UrlOption = None) -> None:
    """Remove one fact version; removing the active one restores the version it superseded."""
    try:
        fact = _open(store, chroma_url).remove(fact_id)
    except KeyError:
        raise _fail(f"error: no fact with id {fact_id}") from None
    console.print(f"removed {fact.id}: {fact.sentence}")


def undo(store: StoreOption = None, chroma_url: UrlOption = None) -> None:
    """Remove the newest edit and re-activate what it superseded."""
    fact = _open(store, chroma_url).undo_last_edit()
    console.print(f"undid {fact.id}: {fact.sentence}" if fact else "no edit to undo")


def stats(store: StoreOption = None, chroma_url: UrlOption = None) -> None:
    """Counts of records, active facts, entities and relations."""
    table = Table(title="memory")
    table.add_column("key")
    table.add_column("value", justify="right")
    for key, value in _open(store, chroma_url).stats().items():
        table.add_row(key, str(value))
    console.print(table)


def retrieval_bench(
    data: Annotated[Path, typer.Option("--data", help="MQuAKE JSON file with the cases")],
    memory: Annotated[str, typer.Option("--memory", help="edits, edits+kg, or both")] = "both",
    limit: Annotated[int | None, typer.Option("--limit", help="Only the first N cases")] = None,
    out: Annotated[Path, typer.Option("--out", help="Directory for the JSON and PNG results")] = Path(
        "runs/retrieval-bench"
    ),
) -> None:
    """Share of multi-hop questions whose needed facts are all among the N retrieved (chain vs dense)."""
    from rich.progress import Progress

    from memory.bench import SETTINGS, run_retrieval_bench

    settings = SETTINGS if memory == "both" else (memory,)
    if any(setting not in SETTINGS for setting in settings):
        raise _fail(f"error: --memory must be edits, edits+kg or both, got {memory!r}")
    if not data.is_file():
        raise _fail(f"error: no such file {data}")
    reports = []
    with Progress(console=errors) as progress:
        tasks: dict[str, int] = {}
        for setting in settings:

            def report(stage: str, done: int, total: int, setting: str = setting) -> None:
                key = f"{setting}: {stage}"
                if key not in tasks:
                    tasks[key] = progress.add_task(key, total=total)
                progress.update(tasks[key], completed=done)

            reports.append(run_retrieval_bench(data, setting, limit, progress=report))
    out.mkdir(parents=True, exist_ok=True)
    (out / "retrieval_bench.json").write_text(json.dumps(reports, indent=2), encoding="utf-8")
    table = Table(title=f"retrieval benchmark: {data.name}")
    for column in (
        "memory",
        "strategy",
        "questions",
        "needed ⊆ retrieved",
        "any of 3 per case",
        "p50 ms",
        "p95 ms",
    ):
        table.add_column(column, justify="right")
    for entry in reports:
        for name, result in entry["strategies"].items():
            table.add_row(
                entry["setting"],
                name,
                str(entry["questions"]),
                f"{100 * result['question_recall']:.1f}%",
                f"{100 * result['case_recall_any_question']:.1f}%",
                f"{result['latency_ms_p50']:.1f}",
                f"{result['latency_ms_p95']:.1f}",
            )
    console.print(table)
    for entry in reports:
        console.print(
            f"{entry['setting']}: {entry['memory']['active']} active facts, "
            f"load {entry['load_seconds']:.1f} s, needed facts all active for "
            f"{100 * entry['needed_facts_active']:.1f}% of questions"
        )
    _plot(reports, out / "retrieval_bench.png")
    console.print(f"wrote {out / 'retrieval_bench.json'} and {out / 'retrieval_bench.png'}")


def _plot(reports: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axis = plt.subplots(figsize=(7, 3.5))
    names = list(reports[0]["strategies"])
    width = 0.8 / len(names)
    for offset, name in enumerate(names):
        values = [100 * entry["strategies"][name]["question_recall"] for entry in reports]
        positions = [index + offset * width for index in range(len(reports))]
        axis.bar(positions, values, width, label=name)
    axis.set_xticks([index + width * (len(names) - 1) / 2 for index in range(len(reports))])
    axis.set_xticklabels([f"{entry['setting']} ({entry['questions']} q)" for entry in reports])
    axis.set_ylabel("needed facts all retrieved (%)")
    axis.set_ylim(0, 100)
    axis.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def register(app: typer.Typer) -> None:
    facts = typer.Typer(
        help="The fact memory: load, add, list, search, history, remove, undo.", no_args_is_help=True
    )
    facts.command("load")(load)
    facts.command("add")(add)
    facts.command("list")(list_facts)
    facts.command("search")(search)
    facts.command("history")(history)
    facts.command("remove")(remove)
    facts.command("undo")(undo)
    facts.command("stats")(stats)
    app.add_typer(facts, name="facts")
    app.command("retrieval-bench")(retrieval_bench)

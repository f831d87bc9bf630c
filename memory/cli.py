"""`hopedit facts ...`: the memory from the command line.

Heavy modules (chromadb, torch via the embedder) are imported inside the commands so `hopedit --help`
stays fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from memory.display import printable, safe_json

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
JsonOption = Annotated[
    bool,
    typer.Option("--json", help="Print JSON (every field of each fact) instead of a table or rows."),
]
# The columns of the plain rows and the terminal table; JSON carries every field of `Fact.to_dict`.
FACT_COLUMNS = ("id", "subject", "relation", "object", "kind", "active", "superseded_by", "sentence")


def _fail(message: str) -> typer.Exit:
    errors.print(message, markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(2)


def _open(
    store: Path | None, chroma_url: str | None, repair: bool = True, use_snapshot: bool = True
) -> Memory:
    """Open the memory or exit 2 (held by another process, unreachable); say what a repair on open fixed.

    Callers close it (`with _open(...) as memory`): closing writes the snapshot the next command opens
    from, and releases the lock.
    """
    from memory.core import Memory

    try:
        memory = Memory.open(store, chroma_url, repair=repair, use_snapshot=use_snapshot)
    except ValueError as error:  # includes StoreInUseError: another live process holds the store
        raise _fail(f"error: {error}") from None
    except Exception as error:  # chromadb raises bare exceptions for unreachable servers and bad dirs
        raise _fail(f"error: cannot open the memory ({type(error).__name__}: {error})") from None
    if memory.integrity.repaired:
        errors.print(f"note: {memory.integrity.summary()}", markup=False, highlight=False, soft_wrap=True)
    return memory


def _is_terminal() -> bool:
    """Tables are for people; a pipe or a file gets rows a script can split (see `_print_facts`)."""
    return sys.stdout.isatty()


def _cell(fact: Fact, column: str) -> str:
    if column == "active":
        return "true" if fact.active else "false"
    value = getattr(fact, column)
    return "" if value is None else printable(str(value))


def _fact_table(facts: list[Fact], title: str, scores: list[float] | None = None) -> Table:
    """A rich table with every name escaped: rich would read `[red]` as markup and pass `ESC[31m` on."""
    table = Table(title=Text(printable(title, limit=200)), show_lines=False)
    if scores is not None:
        table.add_column("score", justify="right")
    for column in ("id", "subject", "relation", "object", "kind", "active", "sentence"):
        table.add_column(column, overflow="fold")
    for index, fact in enumerate(facts):
        active = "yes" if fact.active else f"no (by {fact.superseded_by})" if fact.superseded_by else "no"
        row = [Text(_cell(fact, column)) for column in ("id", "subject", "relation", "object", "kind")]
        row += [Text(active), Text(_cell(fact, "sentence"))]
        table.add_row(*([Text(f"{scores[index]:.3f}")] if scores is not None else []), *row)
    return table


def _print_facts(facts: list[Fact], title: str, as_json: bool, scores: list[float] | None = None) -> None:
    """JSON with `--json`; a table on a terminal; else one tab-separated row per fact under a header.

    The rows are never wrapped or truncated, so `grep` and `cut` see whole names; tabs and newlines
    inside a name are escaped (`\\t`, `\\n`) so every fact stays one row of the same columns.
    """
    if as_json:
        records: list[dict[str, Any]] = []
        for index, fact in enumerate(facts):
            record = fact.to_dict()
            if scores is not None:
                record = {"score": scores[index], **record}
            records.append(record)
        typer.echo(safe_json(records))
    elif _is_terminal():
        console.print(_fact_table(facts, title, scores))
    else:
        header = (("score",) if scores is not None else ()) + FACT_COLUMNS
        lines = ["\t".join(header)]
        for index, fact in enumerate(facts):
            cells = [_cell(fact, column) for column in FACT_COLUMNS]
            lines.append("\t".join(([f"{scores[index]:.4f}"] if scores is not None else []) + cells))
        typer.echo("\n".join(lines))


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
    """Load facts from a file: validated whole first, then written all-or-nothing (a load killed midway
    leaves nothing of itself in the memory)."""
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
        tasks: dict[str, int] = {}

        def report(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=total)
            progress.update(tasks[stage], completed=done)
            if not errors.is_terminal:  # a log gets one line per stored chunk instead of a live bar
                errors.print(f"{stage} {done}/{total}", markup=False, highlight=False)

        with _open(store, chroma_url) as memory:
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
    with _open(store, chroma_url) as memory:
        result = memory.add([fact])
    if result.unchanged:
        console.print(f"already present: {result.unchanged[0].id}")
        return
    stored = result.added[0]
    console.print(_fact_table([stored], "added"))
    for old in result.superseded:
        console.print(f"superseded {old.id}: {printable(old.sentence)}", markup=False, highlight=False)
    if not stored.active:
        console.print(f"stored as history: the edit {stored.superseded_by} outranks background knowledge")


def list_facts(
    all_versions: Annotated[bool, typer.Option("--all", help="Include superseded versions")] = False,
    kind: Annotated[str | None, typer.Option("--kind", help="edit or background")] = None,
    as_json: JsonOption = False,
    store: StoreOption = None,
    chroma_url: UrlOption = None,
) -> None:
    """List the active facts; `--all` adds the superseded versions (their `active` is false)."""
    if kind not in (None, "edit", "background"):
        raise _fail(f"error: --kind must be edit or background, got {kind!r}")
    with _open(store, chroma_url) as memory:
        facts = memory.facts(active_only=not all_versions, kind=kind)  # type: ignore[arg-type]
    _print_facts(facts, f"{len(facts)} facts", as_json)


def search(
    query: str,
    k: Annotated[int, typer.Option("-k", help="How many facts", min=1)] = 5,
    as_json: JsonOption = False,
    store: StoreOption = None,
    chroma_url: UrlOption = None,
) -> None:
    """Dense search over the active facts, best first (`score` is the cosine similarity)."""
    with _open(store, chroma_url) as memory:
        hits = memory.search(query, k)
    _print_facts([hit.fact for hit in hits], query, as_json, [hit.score for hit in hits])


def history(
    subject: str,
    relation: str,
    as_json: JsonOption = False,
    store: StoreOption = None,
    chroma_url: UrlOption = None,
) -> None:
    """All versions of (subject, relation), oldest first."""
    with _open(store, chroma_url) as memory:
        facts = memory.history(subject, relation)
    if not facts:
        raise _fail(f"no facts for ({printable(subject, 200)}, {printable(relation, 200)})")
    _print_facts(facts, f"history of ({subject}, {relation})", as_json)


def remove(fact_id: str, store: StoreOption = None, chroma_url: UrlOption = None) -> None:
    """Remove one fact version; removing the active one restores the version it superseded."""
    try:
        with _open(store, chroma_url) as memory:
            fact = memory.remove(fact_id)
    except KeyError:
        raise _fail(f"error: no fact with id {fact_id}") from None
    console.print(f"removed {fact.id}: {printable(fact.sentence)}", markup=False, highlight=False)


def undo(store: StoreOption = None, chroma_url: UrlOption = None) -> None:
    """Remove the newest edit and re-activate what it superseded."""
    with _open(store, chroma_url) as memory:
        fact = memory.undo_last_edit()
    message = f"undid {fact.id}: {printable(fact.sentence)}" if fact else "no edit to undo"
    console.print(message, markup=False, highlight=False)


def stats(as_json: JsonOption = False, store: StoreOption = None, chroma_url: UrlOption = None) -> None:
    """Counts of records, active facts, entities and relations."""
    with _open(store, chroma_url) as memory:
        counts = memory.stats()
    if as_json:
        typer.echo(safe_json(counts))
    elif _is_terminal():
        table = Table(title="memory")
        table.add_column("key")
        table.add_column("value", justify="right")
        for key, value in counts.items():
            table.add_row(key, Text(printable(str(value))))
        console.print(table)
    else:
        typer.echo("\n".join(f"{key}\t{printable(str(value))}" for key, value in counts.items()))


def check(
    repair: Annotated[
        bool, typer.Option("--repair", help="Delete unfinished loads and rewrite stale active flags")
    ] = False,
    as_json: JsonOption = False,
    store: StoreOption = None,
    chroma_url: UrlOption = None,
) -> None:
    """Find what crashes left in the store: records of unfinished loads, keys with two active versions.

    Exit 0 when the store is consistent (or was just repaired), 1 when it needs `--repair`. Every other
    command repairs on open and says so.
    """
    from memory import integrity

    # The store itself is inspected: a snapshot would only say it was consistent when written.
    with _open(store, chroma_url, repair=False, use_snapshot=False) as memory:
        report = memory.integrity
        if repair and not report.clean:
            integrity.repair(memory.store, report)
    if as_json:
        typer.echo(safe_json(report.to_dict()))
    else:
        typer.echo(printable(report.summary()))
        for subject, relation in report.forked_keys[:10]:
            typer.echo(printable(f"  two or more active: ({subject}, {relation})"))
    if not report.clean and not report.repaired:
        raise typer.Exit(1)


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
    facts.command("check")(check)
    app.add_typer(facts, name="facts")

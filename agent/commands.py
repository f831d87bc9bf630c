"""`hopedit ask`, `hopedit chat` and `hopedit demo` (and `serve`, contributed by agent.server.cli).

Heavy imports (torch, chromadb, LangChain) happen inside the commands so `hopedit --help` stays fast.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn
from rich.table import Table

from agent.chat import FACT_SYNTAX, parse_fact, quiet_model_loading
from agent.engine import METHODS, Engine, EngineConfig
from agent.render import facts_table
from memory.display import safe_json

if TYPE_CHECKING:
    from agent.base import Agent, Answer
    from memory import Memory


def _check_method(method: str) -> str:
    if method.lower() not in METHODS:
        raise typer.BadParameter(f"{method!r} is not one of {', '.join(METHODS)}", param_hint="--method")
    return method.lower()


StoreOption = Annotated[
    Path | None, typer.Option("--store", envvar="HOPEDIT_HOME", help="Memory directory.", show_default=False)
]
ChromaOption = Annotated[
    str | None, typer.Option("--chroma-url", help="Chroma server URL (default: embedded).")
]
ModelOption = Annotated[str | None, typer.Option("--model", help="Base model: a GGUF file or HF directory.")]
PrefixesOption = Annotated[
    Path | None,
    typer.Option("--prefixes", help="Directory of trained InstructEd prefixes (default: the shipped ones)."),
]
LlmUrlOption = Annotated[
    str | None, typer.Option("--llm-url", help="OpenAI-compatible server driving the decomposition agents.")
]
LlmModelOption = Annotated[
    str | None, typer.Option("--llm-model", help="Model name on the --llm-url server.")
]
MethodOption = Annotated[
    str, typer.Option("--method", "-m", help=f"One of: {', '.join(METHODS)}.", callback=_check_method)
]

# (question, the answer the demo edits imply); they must match memory/data/demo_facts.jsonl
DEMO_QUESTIONS: tuple[tuple[str, str], ...] = (
    ("What is the capital of the country that the author of The Silent Orchard is a citizen of?", "Osaka"),
    (
        "What is the official language of the country of citizenship of the author of The Silent Orchard?",
        "Japanese",
    ),
    ("Where is the headquarters of the employer of Mira Castellane?", "Lisbon"),
    (
        "Who is the head of state of the country where Mira Castellane's employer has its headquarters?",
        "Elena Marsh",
    ),
)


def _fail(console: Console, message: str) -> typer.Exit:
    console.print(f"[red]error:[/] {escape(message)}")
    return typer.Exit(code=2)


def _open_memory(store: Path | None, chroma_url: str | None) -> Memory:
    from memory import Memory

    return Memory.open(store, chroma_url)


def _add_adhoc(memory: Memory, items: Sequence[str]) -> None:
    """Each item is a fact file, or one fact written `SUBJECT | RELATION | OBJECT [| SENTENCE]`."""
    for item in items:
        path = Path(item).expanduser()
        if path.is_file():
            memory.load_file(path)
            continue
        fact = parse_fact(item, source="ask")
        if fact is None:
            raise ValueError(f"--facts {item!r}: neither a file nor a fact written '{FACT_SYNTAX}'")
        memory.add([fact])


@contextmanager
def _scratch_memory(base: Memory, items: Sequence[str]) -> Iterator[Memory]:
    """A throw-away copy of the store plus the ad-hoc facts, so --facts never touches the user's store."""
    from memory import Memory

    with (
        tempfile.TemporaryDirectory(prefix="hopedit-ask-", ignore_cleanup_errors=True) as tmp,
        Memory.open(Path(tmp), None) as scratch,
    ):
        current = base.facts(active_only=True)
        if current:
            scratch.add(current)
        _add_adhoc(scratch, items)
        yield scratch


def _fact_scores(question: str, answer: Answer) -> dict[str, float]:
    """Each used fact's relevance score: the retriever's, from the trace, else its cosine to the question."""
    scores: dict[str, float] = {}
    for step in answer.steps:
        records = step.data.get("facts")
        for record in [step.data, *(records if isinstance(records, list) else [])]:
            if not isinstance(record, dict) or record.get("score") is None:
                continue
            fact_id = record.get("fact_id") or record.get("id")  # agents name the key either way
            if fact_id:
                scores.setdefault(fact_id, round(float(record["score"]), 4))
    missing = [fact for fact in answer.facts_used if fact.id not in scores]
    if missing:
        from memory.embedder import embed

        vectors = embed([question, *(fact.sentence for fact in missing)])
        for fact, vector in zip(missing, vectors[1:], strict=True):
            scores[fact.id] = round(float(vectors[0] @ vector), 4)
    return scores


def ask(
    question: Annotated[str, typer.Argument(help="The question, e.g. a multi-hop one.")],
    method: MethodOption = "instructed",
    facts: Annotated[
        list[str] | None,
        typer.Option(
            "--facts",
            help="Extra facts for this question only: a fact file or 'S | R | O [| SENTENCE]'. Repeatable.",
        ),
    ] = None,
    store: StoreOption = None,
    chroma_url: ChromaOption = None,
    model: ModelOption = None,
    prefixes: PrefixesOption = None,
    llm_url: LlmUrlOption = None,
    llm_model: LlmModelOption = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print answer, facts with scores, trace, timings.")
    ] = False,
) -> None:
    """Answer one question from the memory (plus any --facts, which are not stored)."""
    from agent.render import answer_json, render_answer
    from memory.loaders import FactFileError

    console = Console(stderr=as_json)
    started = time.perf_counter()
    quiet_model_loading()
    try:
        config = EngineConfig(model_spec=model, prefixes=prefixes, llm_url=llm_url, llm_model=llm_model)
        # Closed on the way out: closing writes the snapshot the next command opens from.
        with (
            _open_memory(store, chroma_url) as memory,
            _scratch_memory(memory, facts) if facts else nullcontext(memory) as active_memory,
        ):
            answer = Engine(config, active_memory).answer(method, question)
    except (FactFileError, ValueError, FileNotFoundError) as error:
        raise _fail(console, str(error)) from None
    answer.timings["total"] = time.perf_counter() - started
    if as_json:
        payload = answer_json(question, method, answer, _fact_scores(question, answer))
        typer.echo(safe_json(payload, default=str))  # control characters in names escaped
    else:
        render_answer(console, answer, method, trace="none" if method == "base" else "short")


def chat(
    method: MethodOption = "instructed",
    store: StoreOption = None,
    chroma_url: ChromaOption = None,
    model: ModelOption = None,
    prefixes: PrefixesOption = None,
    llm_url: LlmUrlOption = None,
    llm_model: LlmModelOption = None,
) -> None:
    """Multi-turn chat over the memory: ask questions, /edit facts, /undo, switch /agent, /why."""
    from agent.chat import HISTORY_FILE, run_chat
    from memory.core import default_store_dir

    console = Console()
    quiet_model_loading()
    try:
        config = EngineConfig(model_spec=model, prefixes=prefixes, llm_url=llm_url, llm_model=llm_model)
        memory = _open_memory(store, chroma_url)
    except (ValueError, FileNotFoundError) as error:
        raise _fail(console, str(error)) from None
    history = (store or default_store_dir()) / HISTORY_FILE
    with memory:  # closing writes the snapshot the next command opens from
        run_chat(Engine(config, memory), console, method, history)


def demo_facts_path() -> Path:
    return Path(str(files("memory") / "data" / "demo_facts.jsonl"))


def demo(model: ModelOption = None, prefixes: PrefixesOption = None) -> None:
    """Load the bundled demo facts into a fresh temporary memory and answer multi-hop questions."""
    from memory import Memory
    from memory.loaders import FactFileError

    console = Console()
    quiet_model_loading()
    path = demo_facts_path()
    with tempfile.TemporaryDirectory(prefix="hopedit-demo-", ignore_cleanup_errors=True) as tmp:
        memory = Memory.open(Path(tmp), None)
        try:
            loaded = memory.load_file(path)
        except (FactFileError, FileNotFoundError) as error:
            raise _fail(console, f"the bundled demo facts cannot be read: {error}") from None
        edits = memory.facts(active_only=True, kind="edit")
        console.print(
            facts_table(edits, title=f"{len(loaded.added)} demo facts loaded from {path.name}; the edits:")
        )
        engine = Engine(EngineConfig(model_spec=model, prefixes=prefixes), memory)
        agent, reason = _demo_agent(engine)
        if agent is None:
            console.print(
                Panel(
                    f"[bold]{escape(reason)}[/]\nNo model answers below: only the fact chains the memory "
                    "retrieves for each question.",
                    title="InstructEd editor unavailable",
                    border_style="red",
                    expand=False,
                )
            )
        table = Table(
            title="multi-hop questions over the edited facts", show_lines=True, title_justify="left"
        )
        table.add_column("question", overflow="fold")
        table.add_column("expected", style="green")
        table.add_column("answer (instructed)" if agent else "answer", style="bold")
        table.add_column("match")
        table.add_column("fact chain used" if agent else "fact chain retrieved", overflow="fold")
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=console,
            transient=True,
        ) as progress:
            matched = 0
            for question, expected in progress.track(DEMO_QUESTIONS, description="answering"):
                if agent is not None:
                    answer = agent.answer(question)
                    text, chain = answer.text, answer.facts_used
                    hit = expected.lower() in text.lower()
                    matched += hit
                    verdict = "[green]yes[/]" if hit else "[red]no[/]"
                else:
                    text, chain = "(no model)", [scored.fact for scored in memory.retrieve(question).facts]
                    verdict = "-"
                table.add_row(
                    question,
                    expected,
                    text,
                    verdict,
                    "\n".join(f"{i}. {fact.sentence}" for i, fact in enumerate(chain, 1)),
                )
        console.print(table)
        if agent is not None:
            console.print(f"{matched} of {len(DEMO_QUESTIONS)} answers contain the answer the edits imply.")


def _demo_agent(engine: Engine) -> tuple[Agent | None, str]:
    """The instructed agent, or None and the reason it cannot be built (missing prefixes, no model)."""
    try:
        return engine.agent("instructed"), ""
    except Exception as error:  # the demo degrades to retrieval only, and says why
        return None, f"{type(error).__name__}: {error}"


def register(app: typer.Typer) -> None:
    from agent.server.cli import register as register_serve

    app.command()(ask)
    app.command()(chat)
    app.command()(demo)
    register_serve(app)

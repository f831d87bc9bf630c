"""The `hopedit chat` REPL.

Models come from `agent.engine.Engine`, which loads each at most once per process and only when a
method first needs it, so commands that touch only the memory (/edit, /facts, /load, /help) start and
answer instantly, and switching agents never reloads weights. Answers run in a worker thread so that
Ctrl-C at the prompt cancels the answer and leaves the session (memory, loaded models, history) intact.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from agent.base import Answer
from agent.engine import METHODS, Engine
from agent.render import facts_table, render_answer, shown, steps_table

if TYPE_CHECKING:
    from memory.facts import Fact

HISTORY_FILE = "chat_history"
ANSWER_THREAD = "hopedit-answer"  # the worker thread of one answer (see answer_cancellable)
FACTS_LISTED = 50  # /facts without a query lists at most this many active facts


def quiet_model_loading() -> None:
    """Loads happen under our own status line; transformers' per-load progress bars would tear through it."""
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()


FACT_SYNTAX = "SUBJECT | RELATION | OBJECT [| SENTENCE]"


def parse_fact(text: str, source: str) -> Fact | None:
    """`S | R | O` with an optional sentence form (the model reads sentences); None if malformed."""
    from memory.facts import Fact

    parts = [part.strip() for part in text.split("|")]
    if len(parts) not in (3, 4) or not all(parts):
        return None
    sentence = parts[3] if len(parts) == 4 else ""
    return Fact(parts[0], parts[1], parts[2], sentence=sentence, kind="edit", source=source)


class Cancelled(Exception):
    """The user pressed Ctrl-C while an answer was being computed."""


def answer_cancellable(engine: Engine, method: str, question: str, console: Console) -> Answer:
    """Answer in a worker thread; Ctrl-C abandons it (the thread finishes in the background)."""
    result: dict[str, Any] = {}
    done = threading.Event()

    def work() -> None:
        try:
            result["answer"] = engine.answer(method, question)
        except BaseException as error:  # handed to the main thread, shown there
            result["error"] = error
        finally:
            done.set()

    threading.Thread(target=work, name=ANSWER_THREAD, daemon=True).start()
    console.print(f"[dim]answering with {method}… (Ctrl-C cancels)[/]")
    try:
        with console.status("thinking…", spinner="dots"):
            while not done.wait(0.1):
                pass
    except KeyboardInterrupt:
        raise Cancelled from None
    if "error" in result:
        raise result["error"]
    return result["answer"]


HELP = [
    ("QUESTION", "ask a (multi-hop) question; the answer shows the facts it used"),
    (
        "/edit S | R | O [| SENTENCE]",
        "store a fact update now: /edit Vellmoria | head of state | Queen Ardith",
    ),
    ("/load FILE", "load facts from a file (any format `hopedit facts load` takes)"),
    ("/facts [QUERY]", "list active facts, or search them"),
    ("/undo", "remove the last edit and restore the fact it replaced"),
    ("/agent [METHOD]", f"show or switch the method: {' | '.join(METHODS)}"),
    ("/why", "the last answer's full trace (subquestions, retrieved facts, decisions)"),
    ("/help", "this help"),
    ("/quit", "leave (Ctrl-D works too); Ctrl-C cancels a running answer"),
]


class ChatRepl:
    """One chat session: parses a line, runs the command or question, prints the result."""

    def __init__(self, engine: Engine, console: Console, method: str) -> None:
        self.engine = engine
        self.console = console
        self.method = method
        self.last_answer: Answer | None = None
        self._commands: dict[str, Callable[[str], None]] = {
            "/edit": self.cmd_edit,
            "/load": self.cmd_load,
            "/facts": self.cmd_facts,
            "/undo": self.cmd_undo,
            "/agent": self.cmd_agent,
            "/why": self.cmd_why,
            "/help": self.cmd_help,
        }

    def handle(self, line: str) -> bool:
        """Run one input line; False means the session should end."""
        line = line.strip()
        if not line:
            self.console.print("[dim]Type a question, or /help for commands.[/]")
            return True
        if not line.startswith("/"):
            self.ask(line)
            return True
        name, _, argument = line.partition(" ")
        name = name.lower()
        if name in ("/quit", "/exit"):
            return False
        command = self._commands.get(name)
        if command is None:
            self.console.print(f"[red]unknown command {escape(name)}[/]; /help lists the commands.")
            return True
        try:
            command(argument.strip())
        except KeyboardInterrupt:
            self.console.print("[yellow]cancelled[/]")
        except Exception as error:  # any failure is reported, the session goes on
            self.console.print(f"[red]error:[/] {escape(str(error) or type(error).__name__)}")
        return True

    def ask(self, question: str) -> None:
        try:
            answer = answer_cancellable(self.engine, self.method, question, self.console)
        except Cancelled:
            self.console.print("[yellow]cancelled[/] — the answer was dropped; ask again or type /help.")
            return
        except Exception as error:
            self.console.print(f"[red]could not answer with {self.method}:[/] {escape(str(error))}")
            if self.method == "instructed":
                self.console.print("[dim]Another method may work: /agent ike[/]")
            return
        self.last_answer = answer
        render_answer(self.console, answer, self.method, trace="none" if self.method == "base" else "short")

    def cmd_edit(self, argument: str) -> None:
        fact = parse_fact(argument, source="chat")
        if fact is None:
            self.console.print(f"usage: /edit {FACT_SYNTAX}")
            return
        result = self.engine.memory.add([fact])
        if result.added:
            self.console.print("[green]stored:[/]", shown(result.added[0].sentence))
        else:
            self.console.print("[dim]already known:[/]", shown(fact.sentence))
        for old in result.superseded:
            self.console.print("[yellow]superseded:[/]", shown(old.sentence))

    def cmd_load(self, argument: str) -> None:
        if not argument:
            self.console.print("usage: /load FILE")
            return
        from memory.loaders import FactFileError

        path = Path(argument).expanduser()
        try:
            with self.console.status(f"loading {path.name}…"):
                result = self.engine.memory.load_file(path)
        except FactFileError as error:
            self.console.print(f"[red]{escape(_file_error_text(error))}[/]\nnothing was written.")
            return
        except FileNotFoundError:
            self.console.print(f"[red]{escape(str(path))}: no such file[/]")
            return
        self.console.print(
            f"[green]loaded {path}:[/] {len(result.added)} added, {len(result.superseded)} superseded, "
            f"{len(result.unchanged)} unchanged"
        )

    def cmd_facts(self, argument: str) -> None:
        memory = self.engine.memory
        if argument:
            hits = memory.search(argument, k=10)
            if not hits:
                self.console.print("no facts in memory.")
                return
            self.console.print(facts_table(hits, title=f"facts nearest to {argument!r}", show_kind=True))
            return
        facts = memory.facts(active_only=True)
        if not facts:
            self.console.print("no facts in memory; add one with /edit or /load.")
            return
        shown = sorted(facts, key=lambda fact: fact.added_at, reverse=True)[:FACTS_LISTED]
        title = f"active facts ({len(facts)}" + (
            f", newest {FACTS_LISTED} shown)" if len(facts) > FACTS_LISTED else ")"
        )
        self.console.print(facts_table(shown, title=title, show_kind=True))

    def cmd_undo(self, argument: str) -> None:
        removed = self.engine.memory.undo_last_edit()
        if removed is None:
            self.console.print("nothing to undo: the memory holds no edits.")
            return
        self.console.print("[yellow]undone:[/]", shown(removed.sentence))
        restored = [
            fact for fact in self.engine.memory.history(removed.subject, removed.relation) if fact.active
        ]
        for fact in restored:
            self.console.print("[green]active again:[/]", shown(fact.sentence))

    def cmd_agent(self, argument: str) -> None:
        if not argument:
            self.console.print(f"method: [bold]{self.method}[/]  (choices: {', '.join(METHODS)})")
            return
        method = argument.lower()
        if method not in METHODS:
            self.console.print(
                f"[red]unknown method {escape(argument)!r}[/]; choose one of {', '.join(METHODS)}"
            )
            return
        self.method = method
        self.console.print(f"method: [bold]{method}[/] (models already loaded are reused)")

    def cmd_why(self, argument: str) -> None:
        if self.last_answer is None:
            self.console.print("no answer yet: ask a question first.")
            return
        if not self.last_answer.steps:
            self.console.print("the last answer has no trace (the base model answers directly).")
            return
        names = {fact.id: fact.sentence for fact in self.engine.memory.facts(active_only=False)}
        self.console.print(steps_table(self.last_answer.steps, full=True, names=names))

    def cmd_help(self, argument: str) -> None:
        table = Table(title="hopedit chat", title_justify="left", show_header=False)
        table.add_column(style="bold cyan")
        table.add_column()
        for usage, text in HELP:
            table.add_row(escape(usage), text)
        self.console.print(table)


def _file_error_text(error: Exception) -> str:
    if getattr(error, "unit", None) == "record":  # FactFileError already says "file: record N:"
        return str(error)
    path = getattr(error, "path", None)
    line = getattr(error, "line", None)
    message = str(error)
    where = f"{path}:{line}" if path is not None and line is not None else str(path or "")
    return message if not where or where in message else f"{where}: {message}"


def prompt_session(history: Any, **options: Any) -> Any:
    """The terminal prompt; an escape sequence typed or pasted at it is ignored, not fatal.

    prompt_toolkit reads `ESC[31m` as a mouse report and its mouse handler fails to parse it, which
    ended the session. Mouse support is off, so every mouse report is dropped by a binding that takes
    precedence over the built-in one. `options` (input=, output=) let a test drive the prompt.
    """
    from prompt_toolkit import PromptSession
    from prompt_toolkit.key_binding import KeyBindings
    from prompt_toolkit.keys import Keys

    bindings = KeyBindings()

    @bindings.add(Keys.Vt100MouseEvent)
    def _drop_mouse_report(event: Any) -> None:
        """Mouse support is off: nothing to do with a report, real or typed."""

    return PromptSession(history=history, key_bindings=bindings, **options)


def make_reader(history_path: Path) -> Callable[[], str]:
    """A line reader with persistent history: prompt_toolkit on a terminal, input() when scripted."""
    from prompt_toolkit.history import FileHistory

    history_path.parent.mkdir(parents=True, exist_ok=True)
    history = FileHistory(str(history_path))
    if sys.stdin.isatty():
        session = prompt_session(history)
        return lambda: session.prompt("hopedit> ")

    def read_plain() -> str:
        line = input("hopedit> ")
        if line.strip():
            history.append_string(line)
        return line

    return read_plain


def run_chat(engine: Engine, console: Console, method: str, history_path: Path) -> None:
    repl = ChatRepl(engine, console, method)
    read = make_reader(history_path)
    count = len(engine.memory.facts(active_only=True))
    console.print(
        f"[bold]hopedit chat[/] · method [bold]{method}[/] · {count} active fact(s) · /help lists commands"
    )
    while True:
        try:
            line = read()
        except KeyboardInterrupt:
            continue
        except EOFError:
            break
        if not repl.handle(line):
            break
    finish_cancelled_answers(console)
    console.print("bye.")


def finish_cancelled_answers(console: Console) -> None:
    """Wait for answers the user cancelled: their threads run on until the generation ends.

    A daemon thread still inside the model when the interpreter shuts down aborts the process
    ("terminate called without an active exception", SIGABRT), so the session would end with a crash
    after a Ctrl-C. Joining them first lets it exit cleanly.
    """
    pending = [
        thread for thread in threading.enumerate() if thread.name == ANSWER_THREAD and thread.is_alive()
    ]
    if pending:
        console.print("[dim]finishing a cancelled answer before leaving…[/]")
    for thread in pending:
        thread.join()

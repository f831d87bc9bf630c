"""What the chat shows of hostile names: escape sequences escaped, huge names cut, the prompt survives.

The REPL runs in process on a real memory; no model is loaded (only memory commands are used).
"""

from __future__ import annotations

import io
import json
import threading
import time
from pathlib import Path

import pytest
from helpers_memory import FIXTURES
from prompt_toolkit.history import InMemoryHistory
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput
from rich.console import Console

from agent.chat import ChatRepl, prompt_session
from agent.engine import Engine
from memory import Memory
from memory.display import ELLIPSIS


@pytest.fixture
def repl_and_output(tmp_path: Path) -> tuple[ChatRepl, io.StringIO]:
    output = io.StringIO()
    console = Console(file=output, width=100, color_system=None, force_terminal=False)
    return ChatRepl(Engine(memory=Memory.open(tmp_path / "store")), console, "base"), output


def test_facts_and_undo_escape_control_characters(repl_and_output: tuple[ChatRepl, io.StringIO]) -> None:
    repl, output = repl_and_output
    repl.handle("/edit Evil\x1b[31mCorp | founded by | Mal\x1b]0;pwned\x07lory")
    repl.handle("/facts")
    repl.handle("/facts Evil")
    repl.handle("/undo")
    shown = output.getvalue()
    assert "\x1b" not in shown and "\x07" not in shown
    assert "Evil\\x1b[31mCorp" in shown and "Mal\\x1b]0;pwned\\x07lory" in shown
    assert "undone: Evil\\x1b[31mCorp founded by Mal\\x1b]0;pwned\\x07lory." in shown


def test_undo_of_a_100_kb_name_is_quick_and_cut(repl_and_output: tuple[ChatRepl, io.StringIO]) -> None:
    repl, output = repl_and_output
    name = "Z" * 100_000  # one word: rich needs minutes to wrap it whole
    cut = "Z" * 50 + ELLIPSIS  # the cut name's tail, as it prints
    repl.handle(f"/edit {name} | founded by | Orsa Quell")
    start = time.perf_counter()
    repl.handle("/undo")
    repl.handle("/facts")
    assert time.perf_counter() - start < 10
    shown = output.getvalue()
    assert "undone:" in shown and shown.count(cut) == 2  # stored, then undone: cut both times
    assert len(shown) < 5_000
    assert "no facts in memory" in shown  # the undo removed the edit


def test_an_escape_sequence_typed_at_the_prompt_is_dropped() -> None:
    """`ESC[31m` parses as a mouse report; the built-in handler raised and the session ended."""
    answers: list[str] = []
    with create_pipe_input() as keys:
        keys.send_text("\x1b[31mWho founded Peltam Looms?\r")
        session = prompt_session(InMemoryHistory(), input=keys, output=DummyOutput())
        reader = threading.Thread(target=lambda: answers.append(session.prompt("hopedit> ")), daemon=True)
        reader.start()
        reader.join(timeout=20)
    assert answers == ["Who founded Peltam Looms?"]


def test_load_of_a_bad_mquake_record_names_the_record(
    repl_and_output: tuple[ChatRepl, io.StringIO], tmp_path: Path
) -> None:
    records = json.loads((FIXTURES / "mquake_small.json").read_text())
    del records[1]["requested_rewrite"]
    path = tmp_path / "cases.json"
    path.write_text(json.dumps(records))
    repl, output = repl_and_output
    repl.handle(f"/load {path}")
    shown = " ".join(output.getvalue().split())  # rich wraps long lines
    assert f"{path}: record 1: case record has no requested_rewrite list" in shown
    assert f"{path}:1" not in shown and "nothing was written" in shown

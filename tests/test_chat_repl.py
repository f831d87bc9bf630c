"""The chat REPL's commands, driven through a pseudo-terminal (no model is loaded for these)."""

from __future__ import annotations

import subprocess

import pexpect
import pytest
from helpers_chat import HOPEDIT, PROMPT, chat_env, quit_chat, send, spawn_chat


@pytest.fixture
def store(tmp_path):
    return tmp_path / "store"


def test_help_unknown_command_and_empty_input(store):
    child = spawn_chat(store)
    out = send(child, "/help")
    for command in ("/edit", "/load", "/facts", "/undo", "/agent", "/why", "/quit"):
        assert command in out
    out = send(child, "/frobnicate now")
    assert "unknown command /frobnicate" in out
    assert "/help" in out
    assert "Traceback" not in out
    out = send(child, "   ")
    assert "Type a question, or /help" in out
    out = send(child, "/edit only two | parts")
    assert "usage: /edit SUBJECT | RELATION | OBJECT" in out
    out = send(child, "/agent wizard")
    assert "unknown method" in out
    out = send(child, "/agent mello")
    assert "method: mello" in out
    out = send(child, "/why")
    assert "no answer yet" in out
    quit_chat(child)


def test_edit_supersede_undo_persist(store):
    child = spawn_chat(store)
    out = send(child, "/edit Vellmoria | head of state | Queen Ardith")
    assert "stored:" in out and "Queen Ardith" in out
    out = send(child, "/edit Vellmoria | head of state | King Oswin")
    assert "stored:" in out and "King Oswin" in out
    assert "superseded:" in out and "Queen Ardith" in out
    out = send(child, "/facts")
    assert "King Oswin" in out and "Queen Ardith" not in out
    out = send(child, "/undo")
    assert "undone:" in out and "King Oswin" in out
    assert "active again:" in out and "Queen Ardith" in out
    quit_chat(child)

    # The edits were persisted at once: a new session sees the state the last one left.
    child = spawn_chat(store)
    out = send(child, "/facts head of state")
    assert "Queen Ardith" in out and "King Oswin" not in out
    out = send(child, "/undo")
    assert "Queen Ardith" in out
    out = send(child, "/undo")
    assert "nothing to undo" in out
    quit_chat(child)


def test_load_malformed_file_names_line_and_writes_nothing(store, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"subject": "Zorblat Quinn", "relation": "is a citizen of", "object": "Vellmoria"}\n'
        '{"subject": "Vellmoria", "relation": "head of state"\n'
    )
    good = tmp_path / "good.jsonl"
    good.write_text('{"subject": "Zorblat Quinn", "relation": "is a citizen of", "object": "Vellmoria"}\n')
    child = spawn_chat(store)
    out = send(child, f"/load {bad}")
    assert f"{bad}:2" in out
    assert "nothing was written" in out
    out = send(child, "/facts")
    assert "no facts in memory" in out
    out = send(child, f"/load {tmp_path / 'missing.jsonl'}")
    assert "no such file" in out
    out = send(child, f"/load {good}")
    assert "1 added" in out
    out = send(child, "/facts citizen")
    assert "Zorblat Quinn" in out
    quit_chat(child)


def test_history_survives_restart(store):
    child = spawn_chat(store)
    send(child, "/facts remembered query")
    quit_chat(child)
    assert "/facts remembered query" in (store / "chat_history").read_text()

    child = spawn_chat(store)
    child.send("\x1b[A")  # arrow up recalls the previous session's line
    child.send("\r")
    child.expect_exact(PROMPT)
    assert "no facts in memory" in child.before or "facts nearest to 'remembered query'" in child.before
    quit_chat(child)


def test_ctrl_c_at_prompt_and_ctrl_d_exit(store):
    child = spawn_chat(store)
    child.sendintr()
    child.expect_exact(PROMPT)
    out = send(child, "/help")
    assert "/edit" in out
    child.sendeof()
    child.expect_exact("bye.")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_scripted_without_tty(store):
    """Piped input works without a terminal: plain input(), same commands, history still written."""
    result = subprocess.run(
        [str(HOPEDIT), "chat", "--store", str(store)],
        input="/help\n\n/nope\n/edit Zorblat Quinn | is a citizen of | Vellmoria\n/facts\n",
        capture_output=True,
        text=True,
        env=chat_env(),
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "unknown command /nope" in result.stdout
    assert "Zorblat Quinn" in result.stdout
    assert "bye." in result.stdout
    assert "/edit Zorblat Quinn" in (store / "chat_history").read_text()

"""The chat REPL's commands, driven through a pseudo-terminal (no model is loaded for these).

Each chat start costs several seconds of imports, so each test runs one session through many commands.
"""

from __future__ import annotations

import subprocess
import time

import pexpect
from helpers_chat import HOPEDIT, PROMPT, chat_env, quit_chat, send, spawn_chat


def test_commands_errors_and_keys(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"subject": "Zorblat Quinn", "relation": "is a citizen of", "object": "Vellmoria"}\n'
        '{"subject": "Vellmoria", "relation": "head of state"\n'
    )
    good = tmp_path / "good.jsonl"
    good.write_text('{"subject": "Zorblat Quinn", "relation": "is a citizen of", "object": "Vellmoria"}\n')
    child = spawn_chat(tmp_path / "store")

    out = send(child, "/help")
    for command in ("/edit", "/load", "/facts", "/undo", "/agent", "/why", "/quit"):
        assert command in out
    out = send(child, "/frobnicate now")
    assert "unknown command /frobnicate" in out and "/help" in out
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

    out = send(child, f"/load {bad}")
    assert f"{bad}:2" in out and "nothing was written" in out
    out = send(child, "/facts")
    assert "no facts in memory" in out
    out = send(child, f"/load {tmp_path / 'missing.jsonl'}")
    assert "no such file" in out
    out = send(child, f"/load {good}")
    assert "1 added" in out
    out = send(child, "/facts citizen")
    assert "Zorblat Quinn" in out
    out = send(child, f"/load {good}")
    assert "0 added" in out and "1 unchanged" in out
    out = send(
        child,
        "/edit Vellmoria | head of state | Queen Ardith | The head of state of Vellmoria is Queen Ardith.",
    )
    assert "stored: The head of state of Vellmoria is Queen Ardith." in out

    # Ctrl-C at the prompt clears the line, the session goes on. Give prompt_toolkit a moment to put the
    # terminal in raw mode after drawing the prompt: on a loaded machine a ^C sent within those
    # milliseconds reached the process as a SIGINT mid-setup and the prompt never came back.
    time.sleep(1.0)
    child.sendintr()
    child.expect_exact(PROMPT)
    out = send(child, "/agent")
    assert "method: mello" in out
    assert "Traceback" not in child.before
    child.send("\x04")  # Ctrl-D leaves
    child.expect_exact("bye.")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_edits_undo_and_history_survive_restart(tmp_path):
    store = tmp_path / "store"
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
    send(child, "/facts head of state")
    quit_chat(child)
    assert "/facts head of state" in (store / "chat_history").read_text()

    # Edits were persisted at once, and the input history came back: arrow up twice skips /quit
    # and recalls the previous session's last query.
    child = spawn_chat(store)
    child.send("\x1b[A")
    child.send("\x1b[A")
    child.send("\r")
    child.expect_exact(PROMPT)
    out = child.before
    assert "facts nearest to 'head of state'" in out
    assert "Queen Ardith" in out and "King Oswin" not in out
    out = send(child, "/undo")
    assert "Queen Ardith" in out
    out = send(child, "/undo")
    assert "nothing to undo" in out
    quit_chat(child)


def test_scripted_without_tty(tmp_path):
    """Piped input works without a terminal: plain input(), same commands, history still written."""
    store = tmp_path / "store"
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

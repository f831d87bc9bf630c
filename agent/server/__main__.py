"""`python -m agent.server [options]`: the same server as `hopedit serve [options]`."""

import typer

from agent.server.cli import serve

typer.run(serve)

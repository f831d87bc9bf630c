"""Placeholder until the agent commands land."""

import typer


def register(app: typer.Typer) -> None:
    pass

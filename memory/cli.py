"""Placeholder until the memory commands land."""

import typer


def register(app: typer.Typer) -> None:
    pass

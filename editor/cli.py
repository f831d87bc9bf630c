"""Placeholder until the editor commands land."""

import typer


def register(app: typer.Typer) -> None:
    pass

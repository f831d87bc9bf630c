"""Placeholder until the evals commands land."""

import typer


def register(app: typer.Typer) -> None:
    pass

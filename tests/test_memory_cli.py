"""`hopedit facts ...`: loading, listing, errors as file:line with exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers_memory import FIXTURES
from typer.testing import CliRunner

from agent.cli import app
from memory import Memory
from memory.loaders import demo_facts_path


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "store"


def run(*args: str) -> object:
    return CliRunner().invoke(app, list(args))


def test_load_demo_facts_then_inspect(store: Path) -> None:
    result = run("facts", "load", str(demo_facts_path()), "--store", str(store))
    assert result.exit_code == 0, result.output
    assert "11 facts read" in result.output
    history = run("facts", "history", "Tobias Renn", "country of citizenship", "--store", str(store))
    assert history.exit_code == 0 and "Canada" in history.output and "Japan" in history.output
    search = run("facts", "search", "capital of Japan", "-k", "1", "--store", str(store))
    assert "Osaka" in search.output
    assert run("facts", "undo", "--store", str(store)).exit_code == 0
    remaining = {fact.object for fact in Memory.open(store).facts(kind="edit")}
    assert "chess" not in remaining and "Osaka" in remaining


def test_bad_file_exits_2_with_file_and_line(store: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("subject,relation,object\nA,r,B\nC,,D\n")
    result = run("facts", "load", str(bad), "--store", str(store))
    assert result.exit_code == 2
    assert f"{bad}:3: missing or empty relation" in result.output
    assert "Traceback" not in result.output


def test_add_remove_and_errors(store: Path) -> None:
    added = run("facts", "add", "Japan", "capital", "Osaka", "--store", str(store))
    assert added.exit_code == 0, added.output
    fact_id = Memory.open(store).facts()[0].id
    assert run("facts", "remove", "nope", "--store", str(store)).exit_code == 2
    assert run("facts", "add", "Japan", " ", "Osaka", "--store", str(store)).exit_code == 2
    assert (
        run("facts", "load", str(FIXTURES / "facts.csv"), "--as", "nonsense", "--store", str(store)).exit_code
        == 2
    )
    removed = run("facts", "remove", fact_id, "--store", str(store))
    assert removed.exit_code == 0 and "Osaka" in removed.output

"""`hopedit facts list|search|history|stats`: JSON, plain rows for pipes, tables for terminals.

Scripts read this output, so each test parses it the way a script would (json.loads, split on tabs)
and asserts the facts that come back, including a long name kept whole and escape sequences escaped.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import memory.cli
from agent.cli import app
from memory import Memory
from memory.facts import Fact

LONG = "Drelven Limaror" + " of the Very Long Name" * 12  # far wider than any terminal
EVIL = "Evil\x1b[31mCorp\x9b2J"
COLUMNS = ["id", "subject", "relation", "object", "kind", "active", "superseded_by", "sentence"]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Peltam Looms' founder, superseded by an edit; a long-named fact; a name with escape sequences."""
    path = tmp_path_factory.mktemp("cli-output") / "store"
    memory = Memory.open(path)
    memory.add([Fact("Peltam Looms", "founded by", "Orsa Quell", kind="background")])
    memory.add([Fact("Peltam Looms", "founded by", LONG)])
    memory.add([Fact(EVIL, "headquarters location", "Lisbon")])
    return path


def run(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def rows(output: str) -> list[dict[str, str]]:
    lines = output.rstrip("\n").split("\n")
    header = lines[0].split("\t")
    parsed = [line.split("\t") for line in lines[1:]]
    assert all(len(row) == len(header) for row in parsed), lines
    return [dict(zip(header, row, strict=True)) for row in parsed]


def test_search_json_has_every_field_and_the_whole_name(store: Path) -> None:
    hits = json.loads(
        run("facts", "search", "Who founded Peltam Looms?", "-k", "1", "--json", "--store", str(store))
    )
    assert len(hits) == 1
    hit = hits[0]
    assert hit["object"] == LONG and hit["subject"] == "Peltam Looms"
    assert hit["active"] is True and hit["kind"] == "edit" and hit["id"]
    assert -1.0 <= hit["score"] <= 1.0
    assert {"relation", "sentence", "superseded_by", "source", "added_at"} <= set(hit)


def test_piped_search_prints_unwrapped_tab_separated_rows(store: Path) -> None:
    output = run("facts", "search", "Who founded Peltam Looms?", "-k", "1", "--store", str(store))
    assert LONG in output.splitlines()[1]  # grep finds the name on one line
    (row,) = rows(output)
    assert list(row) == ["score", *COLUMNS]
    assert row["object"] == LONG and row["active"] == "true"


def test_list_all_includes_the_superseded_version(store: Path) -> None:
    active = rows(run("facts", "list", "--store", str(store)))
    every = rows(run("facts", "list", "--all", "--store", str(store)))
    assert "Orsa Quell" not in {row["object"] for row in active}
    (old,) = [row for row in every if row["object"] == "Orsa Quell"]
    (new,) = [row for row in every if row["object"] == LONG]
    assert old["active"] == "false" and old["superseded_by"] == new["id"] and old["kind"] == "background"
    listed = json.loads(run("facts", "list", "--all", "--json", "--store", str(store)))
    assert {(fact["object"], fact["active"]) for fact in listed} == {
        ("Orsa Quell", False),
        (LONG, True),
        ("Lisbon", True),
    }


def test_history_and_stats_json(store: Path) -> None:
    history = json.loads(
        run("facts", "history", "Peltam Looms", "founded by", "--json", "--store", str(store))
    )
    assert [(fact["object"], fact["active"]) for fact in history] == [("Orsa Quell", False), (LONG, True)]
    stats = json.loads(run("facts", "stats", "--json", "--store", str(store)))
    assert stats["records"] == 3 and stats["active"] == 2 and stats["inactive"] == 1
    assert (
        dict(line.split("\t") for line in run("facts", "stats", "--store", str(store)).splitlines())[
            "active_edits"
        ]
        == "2"
    )


def test_escape_sequences_in_names_never_reach_the_output(
    store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    piped = run("facts", "list", "--store", str(store))
    as_json = run("facts", "list", "--json", "--store", str(store))
    monkeypatch.setattr(memory.cli, "_is_terminal", lambda: True)
    table = run("facts", "list", "--store", str(store))
    for output in (piped, as_json, table):
        assert "\x1b" not in output and "\x9b" not in output
    assert "Evil\\x1b[31mCorp\\x9b2J" in piped
    assert "\\x1b" in table and "\\x9b" in table  # the table folds cells, so the name may span lines
    assert EVIL in {fact["subject"] for fact in json.loads(as_json)}  # JSON keeps the exact name

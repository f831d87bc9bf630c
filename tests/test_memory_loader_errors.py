"""Fact-file errors a user can act on: the right cause, the right place, and no wall of text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers_memory import FIXTURES
from typer.testing import CliRunner

from agent.cli import app
from memory.loaders import MESSAGE_LIMIT, FactFileError, read_facts

TURTLE_HEAD = "@prefix ex: <http://example.org/> .\n"


def error_of(path: Path, format: str | None = None) -> FactFileError:
    with pytest.raises(FactFileError) as caught:
        read_facts(path, format)
    return caught.value


def test_a_directory_is_reported_as_a_directory(tmp_path: Path) -> None:
    folder = tmp_path / "facts.jsonl"
    folder.mkdir()
    assert str(error_of(folder)) == f"{folder}: is a directory, not a fact file"
    assert str(error_of(tmp_path / "absent.jsonl")) == f"{tmp_path / 'absent.jsonl'}: no such file"
    result = CliRunner().invoke(app, ["facts", "load", str(folder), "--store", str(tmp_path / "store")])
    assert result.exit_code == 2
    assert "is a directory" in result.output and "no such file" not in result.output


def test_an_mquake_record_index_is_not_printed_as_a_line(tmp_path: Path) -> None:
    records = json.loads((FIXTURES / "mquake_small.json").read_text())
    del records[1]["requested_rewrite"]
    path = tmp_path / "cases.json"
    path.write_text(json.dumps(records))
    error = error_of(path)
    assert str(error) == f"{path}: record 1: case record has no requested_rewrite list"
    assert error.line == 1 and error.unit == "record"


@pytest.mark.parametrize(
    ("body", "line", "why"),
    [
        # the statement on the last line lacks its object: rdflib's own counter said line 7
        ("ex:a ex:b ex:c .\nex:d ex:e ex:f .\nex:h ex:i\n", 4, "objectList expected"),
        ("ex:a ex:b ex:c .\n\n\nex:d ex:e zz:f .\n", 5, 'Prefix "zz:" not bound'),
        ('ex:a ex:b ex:c .\nex:d ex:e "open .\nex:h ex:i ex:j .\n', 3, "newline found in string literal"),
    ],
)
def test_a_turtle_error_names_its_line(tmp_path: Path, body: str, line: int, why: str) -> None:
    path = tmp_path / "facts.ttl"
    path.write_text(TURTLE_HEAD + body)
    error = error_of(path)
    assert error.line == line
    assert error.message.startswith(f"invalid Turtle: {why}, at the ^ in ")
    assert str(error).startswith(f"{path}:{line}: invalid Turtle")


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("header.csv", lambda big: f"subject,relation,object,{big}\n"),
        (
            "keys.jsonl",
            lambda big: json.dumps({"subject": "a", "relation": "r", "object": "o", big: 1}) + "\n",
        ),
        ("kind.jsonl", lambda big: json.dumps({"subject": "a", "relation": "r", "object": "o", "kind": big})),
        ("one.ttl", lambda big: f"{TURTLE_HEAD.strip()} ex:a ex:b {big} .\n"),
        ("one.nt", lambda big: f"<http://a> <http://b> {big}\n"),
    ],
)
def test_a_50_mb_single_line_file_is_not_echoed(tmp_path: Path, name: str, make: object) -> None:
    path = tmp_path / name
    path.write_text(make("x" * 50_000_000))  # type: ignore[operator]
    error = error_of(path)
    assert error.line in (None, 1)
    assert len(error.message) <= MESSAGE_LIMIT
    assert len(str(error)) <= MESSAGE_LIMIT + len(str(path)) + 10


def test_control_characters_in_a_bad_line_are_escaped(tmp_path: Path) -> None:
    path = tmp_path / "facts.jsonl"
    path.write_text(json.dumps({"subject": "a", "relation": "r", "object": "o", "\x1b[2J": 1}) + "\n")
    error = error_of(path)
    assert "\x1b" not in str(error)
    assert str(error) == f"{path}:1: unknown key(s) \\x1b[2J"

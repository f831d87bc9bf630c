"""Each loader on a good file, and on a malformed one: FactFileError with the right line, nothing written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from helpers_memory import FIXTURES

from memory import FactFileError, Memory
from memory.loaders import read_facts


@pytest.fixture
def memory(tmp_path: Path) -> Memory:
    return Memory.open(tmp_path / "store")


def triples(memory: Memory) -> set[tuple[str, str, str]]:
    return {(fact.subject, fact.relation, fact.object) for fact in memory.facts()}


@pytest.mark.parametrize("name", ["facts.csv", "facts.tsv", "facts.nt", "facts.ttl"])
def test_triple_files_load(memory: Memory, name: str) -> None:
    memory.load_file(FIXTURES / name)
    found = triples(memory)
    assert ("Tobias Renn", "country of citizenship", "Japan") in found
    capital = next(fact for fact in memory.facts() if fact.relation == "capital")
    assert capital.object == "Osaka"
    assert capital.sentence == "Japan capital Osaka."  # no sentence given: the readable fallback
    assert all(fact.kind == "edit" for fact in memory.facts())
    assert all("label" not in relation for _, relation, _ in found)  # rdfs:label names things, is no fact


def test_csv_keeps_given_sentences_and_quoting(memory: Memory) -> None:
    memory.load_file(FIXTURES / "facts.csv", kind="background")
    by_subject = {fact.subject: fact for fact in memory.facts()}
    assert by_subject["Tobias Renn"].sentence == "Tobias Renn is a citizen of Japan."
    assert by_subject["Renn, Tobias"].object == "novelist"
    assert {fact.kind for fact in memory.facts()} == {"background"}


def test_jsonl_edit_outranks_later_background_line(memory: Memory) -> None:
    result = memory.load_file(FIXTURES / "facts.jsonl")
    assert [fact.object for fact in memory.history("Japan", "capital")] == ["Osaka", "Tokyo"]
    tokyo = memory.history("Japan", "capital")[1]
    assert not tokyo.active and tokyo.kind == "background"
    assert len(result.added) == 3


def test_turtle_uses_labels_then_local_names(memory: Memory) -> None:
    memory.load_file(FIXTURES / "facts.ttl")
    assert triples(memory) == {
        ("Tobias Renn", "country of citizenship", "Japan"),
        ("Japan", "capital", "Osaka"),
    }


def test_format_option_overrides_extension(memory: Memory, tmp_path: Path) -> None:
    renamed = tmp_path / "facts.txt"
    shutil.copy(FIXTURES / "facts.jsonl", renamed)
    with pytest.raises(FactFileError, match="pass --format"):
        memory.load_file(renamed)
    memory.load_file(renamed, format="jsonl")
    assert ("Japan", "capital", "Osaka") in triples(memory)


def test_mquake_edits_only(memory: Memory) -> None:
    memory.load_file(FIXTURES / "mquake_small.json")
    edits = memory.facts(kind="edit")
    assert len(edits) == 8 and not memory.facts(kind="background")
    modi = memory.history("Narendra Modi", "country of citizenship")
    assert [fact.sentence for fact in modi] == ["Narendra Modi is a citizen of Australia."]


def test_mquake_with_kg_background_superseded_by_edits(memory: Memory) -> None:
    result = memory.load_file(FIXTURES / "mquake_small.json", with_kg=True)
    # 8 original-chain triples (one shared by both cases) + 8 edits; every new-chain hop is edited.
    assert len(memory.facts(active_only=False)) == 15
    assert len(result.unchanged) == 1
    history = memory.history("Grey's Anatomy", "original broadcaster")
    assert [(fact.object, fact.kind, fact.active) for fact in history] == [
        ("American Broadcasting Company", "background", False),
        ("British Broadcasting Corporation", "edit", True),
    ]
    assert history[0].superseded_by == history[1].id
    background = next(fact for fact in memory.facts(kind="background") if fact.subject == "Bob Iger")
    # The sentence comes from the case's own cloze for that hop.
    assert background.sentence == "Bob Iger is a citizen of United States of America."


def bad_files(tmp_path: Path) -> list[tuple[Path, int, str]]:
    """(file, expected line or record index, expected message part); the bad line comes after good ones."""
    cases = {
        "bad.csv": ("subject,relation,object\nA,r,B\nC,r,D\nE,,F\n", 4, "missing or empty relation"),
        "columns.csv": ("subject,relation,object\nA,r,B\nC,r,D,extra\n", 3, "columns"),
        "header.tsv": ("subject\tpredicate\tobject\nA\tr\tB\n", 1, "relation"),
        "bad.jsonl": (
            '{"subject": "A", "relation": "r", "object": "B"}\n{"subject": "C", "relation": \n',
            2,
            "JSON",
        ),
        "keys.jsonl": (
            '{"subject": "A", "relation": "r", "object": "B"}\n\n{"subject": "C", "relation": "r"}\n',
            3,
            "object",
        ),
        "bad.nt": (
            '<http://e/a> <http://e/r> <http://e/b> .\n<http://e/c> <http://e/r> "open .\n',
            2,
            "N-Triples",
        ),
        "bad.ttl": ("@prefix e: <http://e/> .\ne:a e:r e:b .\ne:c e:r ;; .\n", 3, "Turtle"),
    }
    made = []
    for name, (text, line, message) in cases.items():
        path = tmp_path / name
        path.write_text(text)
        made.append((path, line, message))
    records = json.loads((FIXTURES / "mquake_small.json").read_text())
    del records[1]["requested_rewrite"]
    mquake = tmp_path / "bad_mquake.json"
    mquake.write_text(json.dumps(records))
    made.append((mquake, 1, "requested_rewrite"))
    return made


def test_malformed_files_name_the_line_and_write_nothing(memory: Memory, tmp_path: Path) -> None:
    memory.add_fact("Keep", "me", "here")
    for path, line, message in bad_files(tmp_path):
        with pytest.raises(FactFileError) as caught:
            memory.load_file(path)
        assert caught.value.line == line, path.name
        assert message in caught.value.message, path.name
        # MQuAKE errors name the record's index in the JSON list, the other formats a line
        where = f"{path}: record {line}" if path.suffix == ".json" else f"{path}:{line}"
        assert str(caught.value).startswith(f"{where}: ")
    assert triples(memory) == {("Keep", "me", "here")}
    assert triples(Memory.open(Path(memory.store.location()))) == {("Keep", "me", "here")}


def test_read_facts_keeps_file_order(tmp_path: Path) -> None:
    facts = read_facts(FIXTURES / "facts.csv")
    assert [fact.subject for fact in facts] == ["Tobias Renn", "Japan", "Renn, Tobias"]

"""Entity aliases from every source format reach the facts (and so the entity index)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memory.loaders import FactFileError, LoadOptions, read_facts

FIXTURE = Path(__file__).parent / "fixtures" / "evals" / "mquake_tiny.json"


def test_jsonl_and_csv_alias_fields(tmp_path):
    jsonl = tmp_path / "facts.jsonl"
    jsonl.write_text(
        json.dumps({"subject": "Peltam Looms", "relation": "founded by", "object": "Drelven Limaror",
                    "aliases": ["Peltam"], "object_aliases": ["D. Limaror", "Limaror"]}) + "\n",
        encoding="utf-8",
    )  # fmt: skip
    [fact] = read_facts(jsonl)
    assert fact.subject_aliases == ("Peltam",)
    assert fact.object_aliases == ("D. Limaror", "Limaror")
    table = tmp_path / "facts.csv"
    table.write_text("subject,relation,object,subject_aliases\nOstrel Mills,makes,cloth,Ostrel|OM Co\n")
    [fact] = read_facts(table)
    assert fact.subject_aliases == ("Ostrel", "OM Co")


def test_bad_alias_field_names_the_line(tmp_path):
    jsonl = tmp_path / "facts.jsonl"
    jsonl.write_text('{"subject": "A", "relation": "r", "object": "B", "object_aliases": [3]}\n')
    with pytest.raises(FactFileError, match=r"facts\.jsonl:1: object_aliases must be a list of strings"):
        read_facts(jsonl)


def test_rdf_alt_labels_become_aliases(tmp_path):
    turtle = tmp_path / "facts.ttl"
    turtle.write_text(
        "@prefix ex: <http://example.org/> .\n"
        "@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .\n"
        "@prefix skos: <http://www.w3.org/2004/02/skos/core#> .\n"
        'ex:kolinda rdfs:label "Kolinda Grabar-Kitarović" ; skos:altLabel "Grabar-Kitarović" .\n'
        'ex:croatia rdfs:label "Croatia" ; skos:altLabel "Republic of Croatia" .\n'
        "ex:croatia ex:headOfState ex:kolinda .\n",
        encoding="utf-8",
    )
    [fact] = read_facts(turtle)
    assert (fact.subject, fact.relation, fact.object) == (
        "Croatia",
        "head of state",
        "Kolinda Grabar-Kitarović",
    )
    assert fact.subject_aliases == ("Republic of Croatia",)
    assert fact.object_aliases == ("Grabar-Kitarović",)


def test_mquake_answer_aliases_name_the_objects():
    case = json.loads(FIXTURE.read_text(encoding="utf-8"))[0]
    facts = read_facts(FIXTURE, "mquake", LoadOptions(with_kg=True))
    final = case["new_answer"]
    carrying = [f for f in facts if f.object == final]
    assert carrying, "the final answer is the object of a chain fact"
    expected = {a for a in case.get("new_answer_alias", []) if a != final}
    assert expected <= set(carrying[0].object_aliases)


def test_edits_can_be_withheld_from_an_mquake_load():
    facts = read_facts(FIXTURE, "mquake", LoadOptions(with_kg=True, edits=False))
    assert facts and all(fact.kind == "background" for fact in facts)

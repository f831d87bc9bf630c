"""An invented world in MQuAKE's format: `python -m evals.invented_world` (evals/data/invented_world.json).

Every name is made up (no model has seen it) and so are the relations' labels and phrasings, none of them
taken from MQuAKE or the training files: what the retriever and the prefixes do here is what they do on
a user's own knowledge graph. The world is a typed graph (people, companies, cities, countries,
products, currencies) where every entity of a type has every relation of its type. A case is a random
2-4 hop path, one or two of whose hops are edited; the edited chain then follows the world from the new
object. Cases are kept only when no case's edit touches a (subject, relation) of another case's chains,
so with every edit and the whole graph loaded the memory implies every gold answer (no conflicts).
"""

from __future__ import annotations

import argparse
import json
import random
from dataclasses import dataclass
from pathlib import Path

_ONSETS = ("br", "d", "f", "g", "k", "l", "m", "n", "p", "qu", "r", "s", "t", "th", "v", "z", "sh", "dr")
_VOWELS = ("a", "e", "i", "o", "u", "ae", "io", "ou")
_CODAS = ("", "n", "r", "l", "s", "th", "m", "x", "nd")


@dataclass(frozen=True)
class Relation:
    id: str
    label: str
    source: str  # entity type of the subject
    target: str  # entity type of the object
    cloze: str  # "{}" is the subject; the object follows
    question: str  # single-hop question about "{}"
    noun: str  # noun phrase for "the object of {}", used to nest hops
    wh: str  # "Who" or "What" / "Which city" ... opening a question about the object


RELATIONS = (
    Relation("W1", "employer", "person", "company", "{} is employed by", "Which company employs {}?",
             "the company that employs {}", "Which company is"),
    Relation("W2", "headquarters city", "company", "city", "The head office of {} is in",
             "In which city is the head office of {}?", "the city that hosts the head office of {}",
             "Which city is"),
    Relation("W3", "country", "city", "country", "{} lies in the country of", "Which country does {} lie in?",
             "the country in which {} lies", "Which country is"),
    Relation("W4", "ruler", "country", "person", "The ruler of {} is", "Who rules {}?", "the ruler of {}",
             "Who is"),
    Relation("W5", "founder", "company", "person", "{} was founded by", "Who founded {}?",
             "the person who founded {}", "Who is"),
    Relation("W6", "birthplace", "person", "city", "{} was born in", "In which city was {} born?",
             "the city where {} was born", "Which city is"),
    Relation("W7", "maker", "product", "company", "{} is made by", "Which company makes {}?",
             "the company that makes {}", "Which company is"),
    Relation("W8", "mayor", "city", "person", "The mayor of {} is", "Who is the mayor of {}?",
             "the mayor of {}", "Who is"),
    Relation("W9", "currency", "country", "currency", "The money used in {} is the",
             "What money is used in {}?", "the money used in {}", "What is"),
    Relation("W10", "spouse", "person", "person", "{} is married to", "Who is {} married to?",
             "the person married to {}", "Who is"),
)  # fmt: skip

TYPE_COUNTS = {"person": 90, "company": 35, "city": 30, "country": 10, "product": 25, "currency": 10}
_SUFFIX = {"company": (" Works", " Holdings", " Group", " Labs"), "currency": (" crown", " mark", " piece")}


def _word(rng: random.Random, syllables: int) -> str:
    parts = [rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS) for _ in range(syllables)]
    return "".join(parts).capitalize()


def _names(rng: random.Random) -> dict[str, list[str]]:
    used: set[str] = set()
    names: dict[str, list[str]] = {}
    for kind, count in TYPE_COUNTS.items():
        names[kind] = []
        while len(names[kind]) < count:
            if kind == "person":
                name = f"{_word(rng, 2)} {_word(rng, rng.randint(2, 3))}"
            elif kind in _SUFFIX:
                name = _word(rng, 2) + rng.choice(_SUFFIX[kind])
            else:
                name = _word(rng, rng.randint(2, 3))
            if name not in used:
                used.add(name)
                names[kind].append(name)
    return names


def build_world(rng: random.Random) -> tuple[dict[str, list[str]], dict[tuple[str, str], str]]:
    """Entities by type and the functional graph (subject, relation id) -> object."""
    names = _names(rng)
    graph: dict[tuple[str, str], str] = {}
    for relation in RELATIONS:
        for subject in names[relation.source]:
            choices = [o for o in names[relation.target] if o != subject]
            graph[(subject, relation.id)] = rng.choice(choices)
    return names, graph


def _aliases(name: str) -> list[str]:
    """A short form for companies ("Drounth Works" -> "Drounth"), as a source might list it."""
    first = name.split()[0]
    return [first] if name.endswith(tuple(s for ss in _SUFFIX.values() for s in ss)) and first != name else []


def _walk(graph: dict, relations: list[Relation], start: str) -> list[str] | None:
    """Entities along the relations from start, or None if the path revisits an entity."""
    path = [start]
    for relation in relations:
        nxt = graph[(path[-1], relation.id)]
        if nxt in path:
            return None
        path.append(nxt)
    return path


def _question(relations: list[Relation], subject: str, variant: int) -> str:
    """A multi-hop question: hops nest as noun phrases, the last hop asks (three phrasings)."""
    inner = subject
    for relation in relations[:-1]:
        inner = relation.noun.format(inner)
    last = relations[-1]
    if variant == 0:
        return last.question.format(inner)
    if variant == 1:
        return f"{last.wh} {last.noun.format(inner)}?"
    return f"Name {last.noun.format(inner)}."


def make_cases(seed: int, n_cases: int) -> list[dict]:
    rng = random.Random(seed)
    names, graph = build_world(rng)
    by_source: dict[str, list[Relation]] = {}
    for relation in RELATIONS:
        by_source.setdefault(relation.source, []).append(relation)
    cases: list[dict] = []
    chain_keys: set[tuple[str, str]] = set()  # (subject, relation) used by accepted chains
    edit_keys: set[tuple[str, str]] = set()
    attempts = 0
    while len(cases) < n_cases and attempts < 100_000:
        attempts += 1
        n_hops = [2, 3, 4][len(cases) % 3]
        start_type = rng.choice(["person", "product", "company", "city"])
        relations: list[Relation] = []
        kind = start_type
        for hop in range(n_hops):
            options = by_source[kind]
            if hop < n_hops - 1:  # a middle hop must reach a type the next hop can leave
                options = [r for r in options if r.target in by_source]
            relation = rng.choice(options)
            relations.append(relation)
            kind = relation.target
        start = rng.choice(names[start_type])
        original = _walk(graph, relations, start)
        if original is None:
            continue
        n_edits = 1 if rng.random() < 0.7 else 2
        edited_hops = sorted(rng.sample(range(n_hops), min(n_edits, n_hops)))
        world = dict(graph)
        edits = []
        for hop in edited_hops:
            path_now = _walk(world, relations, start)
            if path_now is None:
                break
            subject, relation = path_now[hop], relations[hop]
            old = world[(subject, relation.id)]
            choices = [o for o in names[relation.target] if o not in (old, subject)]
            new = rng.choice(choices)
            world[(subject, relation.id)] = new
            edits.append((subject, relation, old, new))
        new_path = _walk(world, relations, start)
        if len(edits) != len(edited_hops) or new_path is None or new_path[-1] == original[-1]:
            continue
        new_keys = {(new_path[i], r.id) for i, r in enumerate(relations)}
        old_keys = {(original[i], r.id) for i, r in enumerate(relations)}
        these_edits = {(s, r.id) for s, r, _, _ in edits}
        if these_edits & chain_keys or (new_keys | old_keys) & edit_keys or these_edits & edit_keys:
            continue
        chain_keys |= new_keys | old_keys
        edit_keys |= these_edits
        cases.append(_record(len(cases) + 1, relations, original, new_path, edits))
    return cases


def _hops(relations: list[Relation], path: list[str]) -> list[dict]:
    return [
        {
            "question": relation.question.format(path[i]),
            "cloze": relation.cloze.format(path[i]),
            "answer": path[i + 1],
            "answer_alias": _aliases(path[i + 1]),
        }
        for i, relation in enumerate(relations)
    ]


def _triples(relations: list[Relation], path: list[str]) -> tuple[list, list]:
    ids = [[f"E:{path[i]}", r.id, f"E:{path[i + 1]}"] for i, r in enumerate(relations)]
    labeled = [[path[i], r.label, path[i + 1]] for i, r in enumerate(relations)]
    return ids, labeled


def _record(
    case_id: int, relations: list[Relation], original: list[str], new: list[str], edits: list
) -> dict:
    ids, labeled = _triples(relations, original)
    new_ids, new_labeled = _triples(relations, new)
    return {
        "case_id": case_id,
        "requested_rewrite": [
            {
                "prompt": relation.cloze,
                "relation_id": relation.id,
                "subject": subject,
                "target_new": {"str": new_object, "id": f"E:{new_object}"},
                "target_true": {"str": old, "id": f"E:{old}"},
                "question": relation.question.format(subject),
            }
            for subject, relation, old, new_object in edits
        ],
        "questions": [_question(relations, original[0], variant) for variant in range(3)],
        "answer": original[-1],
        "answer_alias": _aliases(original[-1]),
        "new_answer": new[-1],
        "new_answer_alias": _aliases(new[-1]),
        "single_hops": _hops(relations, original),
        "new_single_hops": _hops(relations, new),
        "orig": {
            "triples": ids,
            "triples_labeled": labeled,
            "new_triples": new_ids,
            "new_triples_labeled": new_labeled,
            "edit_triples": [[f"E:{s}", r.id, f"E:{n}"] for s, r, _, n in edits],
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("evals/data/invented_world.json"))
    parser.add_argument("--cases", type=int, default=120)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    cases = make_cases(args.seed, args.cases)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(cases, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    hops = [len(c["new_single_hops"]) for c in cases]
    counts = ", ".join(f"{h}-hop: {hops.count(h)}" for h in (2, 3, 4))
    print(f"wrote {args.out}: {len(cases)} cases ({counts})")


if __name__ == "__main__":
    main()

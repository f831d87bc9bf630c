"""Reading fact files (RDF, CSV/TSV, JSONL, MQuAKE JSON) into validated facts.

A loader reads the whole file into facts before anything is written, and reports the first bad line (or
record) as a FactFileError, so a bad file never leaves the memory half-loaded.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memory.display import printable
from memory.facts import Fact, FactKind, entity_names, fallback_sentence

FORMATS = ("nt", "turtle", "csv", "tsv", "jsonl", "mquake")
_EXTENSIONS = {
    ".nt": "nt",
    ".ttl": "turtle",
    ".turtle": "turtle",
    ".csv": "csv",
    ".tsv": "tsv",
    ".jsonl": "jsonl",
    ".json": "mquake",
}
_TRIPLE_KEYS = ("subject", "relation", "object")
# `aliases` is a synonym of `subject_aliases`; in CSV/TSV a cell lists aliases separated by "|".
_ALIAS_KEYS = ("aliases", "subject_aliases", "object_aliases")
_OPTIONAL_KEYS = ("sentence", "kind", *_ALIAS_KEYS)
_CELL_ALIAS_SEPARATOR = "|"

Progress = Callable[[int], None]  # called with the number of newly read lines or records


# An error message quotes at most this many characters of the file (a header, a value, a key list): a
# file of one 50 MB line must not come back whole on stderr or in an HTTP response.
MESSAGE_LIMIT = 300


class FactFileError(Exception):
    """A bad fact file; `line` is the 1-based line, or the 0-based record index for MQuAKE JSON.

    `unit` says which: a record index prints as `file: record N: message`, since `file:N:` reads as a
    line number and a JSON list of records is usually on one line or pretty-printed over many.
    The message is capped and its control characters escaped, because it quotes the file.
    """

    def __init__(self, path: Path | str, line: int | None, message: str, unit: str = "line") -> None:
        if unit not in ("line", "record"):
            raise ValueError(f"unit must be 'line' or 'record', got {unit!r}")
        self.path = Path(path)
        self.line = line
        self.unit = unit
        self.message = printable(message, limit=MESSAGE_LIMIT)
        if line is None:
            where = f"{self.path}"
        elif unit == "record":
            where = f"{self.path}: record {line}"
        else:
            where = f"{self.path}:{line}"
        super().__init__(f"{where}: {self.message}")

    @classmethod
    def at_record(cls, path: Path | str, index: int, message: str) -> FactFileError:
        """An error in the record at 0-based `index` of a JSON list (MQuAKE)."""
        return cls(path, index, message, unit="record")


@dataclass(frozen=True)
class LoadOptions:
    kind: FactKind = "edit"
    with_kg: bool = False
    # MQuAKE: False reads only the background world (with_kg), e.g. for cases asked with edits withheld.
    edits: bool = True


def detect_format(path: Path, format: str | None = None) -> str:
    if format is not None:
        if format not in FORMATS:
            raise FactFileError(path, None, f"unknown format {format!r}; choose one of {', '.join(FORMATS)}")
        return format
    found = _EXTENSIONS.get(path.suffix.lower())
    if found is None:
        raise FactFileError(path, None, f"cannot tell the format from {path.suffix!r}; pass --format")
    return found


def read_facts(
    path: Path,
    format: str | None = None,
    options: LoadOptions | None = None,
    progress: Progress | None = None,
) -> list[Fact]:
    """All facts of a file, in file order, or a FactFileError naming the first bad line."""
    options = options or LoadOptions()
    if path.is_dir():
        raise FactFileError(path, None, "is a directory, not a fact file")
    if not path.exists():
        raise FactFileError(path, None, "no such file")
    if not path.is_file():
        raise FactFileError(path, None, "not a regular file")
    fmt = detect_format(path, format)
    source = f"file:{path.name}"
    tick = progress or (lambda _: None)
    try:
        if fmt in ("csv", "tsv"):
            return list(_read_delimited(path, "\t" if fmt == "tsv" else ",", options.kind, source, tick))
        if fmt == "jsonl":
            return list(_read_jsonl(path, options.kind, source, tick))
        if fmt == "nt":
            return _read_ntriples(path, options.kind, source, tick)
        if fmt == "turtle":
            return _read_turtle(path, options.kind, source, tick)
        return _read_mquake(path, options, source, tick)
    except UnicodeDecodeError as error:
        raise FactFileError(path, None, f"not UTF-8 text ({error.reason})") from None
    except csv.Error as error:  # e.g. a field over csv's size limit: a file of one enormous line
        raise FactFileError(path, None, f"invalid {fmt.upper()}: {error}") from None


def _aliases(path: Path, line: int, key: str, value: Any) -> tuple[str, ...]:
    """An alias field: a JSON list of strings, or a "|"-separated cell of a CSV/TSV file."""
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(_CELL_ALIAS_SEPARATOR) if part.strip())
    if isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
        return tuple(item.strip() for item in value if item.strip())
    raise FactFileError(path, line, f"{key} must be a list of strings, got {value!r:.80}")


def _make_fact(path: Path, line: int, values: dict[str, Any], kind: FactKind, source: str) -> Fact:
    for key in (*_TRIPLE_KEYS, "sentence", "kind"):
        value = values.get(key)
        if value is not None and not isinstance(value, str):
            raise FactFileError(path, line, f"{key} must be a string, got {type(value).__name__}")
    missing = [key for key in _TRIPLE_KEYS if not (values.get(key) or "").strip()]
    if missing:
        raise FactFileError(path, line, f"missing or empty {', '.join(missing)}")
    row_kind = (values.get("kind") or "").strip() or kind
    if row_kind not in ("edit", "background"):
        raise FactFileError(path, line, f"kind must be 'edit' or 'background', got {row_kind!r}")
    return Fact(
        subject=values["subject"],
        relation=values["relation"],
        object=values["object"],
        sentence=values.get("sentence") or "",
        kind=row_kind,
        source=source,
        subject_aliases=_aliases(path, line, "aliases", values.get("aliases"))
        + _aliases(path, line, "subject_aliases", values.get("subject_aliases")),
        object_aliases=_aliases(path, line, "object_aliases", values.get("object_aliases")),
    )


def _read_delimited(
    path: Path, delimiter: str, kind: FactKind, source: str, tick: Progress
) -> Iterator[Fact]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle, delimiter=delimiter)
        header = [name.strip() for name in reader.fieldnames or []]
        missing = [key for key in _TRIPLE_KEYS if key not in header]
        if missing:
            raise FactFileError(path, 1, f"header lacks column(s) {', '.join(missing)} (found {header})")
        unknown = [name for name in header if name not in _TRIPLE_KEYS + _OPTIONAL_KEYS]
        if unknown:
            raise FactFileError(path, 1, f"unknown column(s) {', '.join(unknown)}")
        reader.fieldnames = header
        for row in reader:
            line = reader.line_num
            if None in row:
                raise FactFileError(path, line, f"expected {len(header)} columns, got more")
            if any(value is None for value in row.values()):
                raise FactFileError(path, line, f"expected {len(header)} columns, got fewer")
            tick(1)
            yield _make_fact(path, line, row, kind, source)


def _read_jsonl(path: Path, kind: FactKind, source: str, tick: Progress) -> Iterator[Fact]:
    with path.open(encoding="utf-8") as handle:
        for line, text in enumerate(handle, start=1):
            tick(1)
            if not text.strip():
                continue
            try:
                record = json.loads(text)
            except json.JSONDecodeError as error:
                raise FactFileError(path, line, f"invalid JSON: {error.msg}") from None
            if not isinstance(record, dict):
                raise FactFileError(path, line, "expected a JSON object with subject, relation, object")
            unknown = sorted(set(record) - set(_TRIPLE_KEYS + _OPTIONAL_KEYS))
            if unknown:
                raise FactFileError(path, line, f"unknown key(s) {', '.join(unknown)}")
            yield _make_fact(path, line, record, kind, source)


def _local_name(term: str, lower: bool) -> str:
    """Readable name of an IRI without a label: the part after the last # or /, camelCase split.

    Predicates are lower-cased ("countryOfCitizenship" -> "country of citizenship") so they read like the
    relation labels of other sources; entity names keep their capitals.
    """
    name = re.split(r"[#/:]", term.rstrip("/#"))[-1] or term
    name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name).replace("_", " ").strip()
    return (name.lower() if lower else name) or term


def _rdf_facts(
    path: Path, triples: Iterable[tuple[Any, Any, Any, int | None]], kind: FactKind, source: str
) -> list[Fact]:
    from rdflib import Literal
    from rdflib.namespace import RDFS, SKOS

    rows = list(triples)
    labels: dict[str, str] = {}
    alt_labels: dict[str, list[str]] = {}
    for s, p, o, _ in rows:
        if p == RDFS.label and isinstance(o, Literal):
            if str(s) in labels:  # a second label is another name of the same entity
                alt_labels.setdefault(str(s), []).append(str(o))
            else:
                labels[str(s)] = str(o)
        elif p == SKOS.altLabel and isinstance(o, Literal):
            alt_labels.setdefault(str(s), []).append(str(o))

    def name(term: Any, predicate: bool = False) -> str:
        if isinstance(term, Literal):
            return str(term)
        return labels.get(str(term)) or _local_name(str(term), lower=predicate)

    facts = []
    for subject, predicate, obj, line in rows:
        if predicate in (RDFS.label, SKOS.altLabel):
            continue
        values = {
            "subject": name(subject),
            "relation": name(predicate, predicate=True),
            "object": name(obj),
            "subject_aliases": alt_labels.get(str(subject), []),
            "object_aliases": [] if isinstance(obj, Literal) else alt_labels.get(str(obj), []),
        }
        facts.append(_make_fact(path, line or 0, values, kind, source))
    return facts


class _Collect:
    """rdflib sink that keeps each triple with the line it came from."""

    def __init__(self) -> None:
        self.triples: list[tuple[Any, Any, Any, int | None]] = []
        self.line = 0

    def triple(self, subject: Any, predicate: Any, obj: Any) -> None:
        self.triples.append((subject, predicate, obj, self.line))


def _read_ntriples(path: Path, kind: FactKind, source: str, tick: Progress) -> list[Fact]:
    """Parsed line by line (N-Triples is one triple per line) so an error names its line."""
    from rdflib.plugins.parsers.ntriples import ParseError as NTriplesError
    from rdflib.plugins.parsers.ntriples import W3CNTriplesParser

    sink = _Collect()
    parser = W3CNTriplesParser(sink)
    with path.open(encoding="utf-8") as handle:
        for line, text in enumerate(handle, start=1):
            tick(1)
            sink.line = line
            parser.line = text.rstrip("\r\n")
            try:
                parser.parseline()
            except NTriplesError as error:
                raise FactFileError(path, line, f"invalid N-Triples: {error}") from None
    return _rdf_facts(path, sink.triples, kind, source)


def _read_turtle(path: Path, kind: FactKind, source: str, tick: Progress) -> list[Fact]:
    import rdflib
    from rdflib.plugins.parsers.notation3 import BadSyntax

    graph = rdflib.Graph()
    try:
        graph.parse(str(path), format="turtle")
    except BadSyntax as error:
        raise _turtle_error(path, error) from None
    except Exception as error:  # rdflib raises assorted errors for bad Turtle
        raise FactFileError(path, None, f"invalid Turtle: {error}") from None
    tick(len(graph))
    # Turtle keeps no line per triple; sort for a stable order (supersession is order-dependent).
    return _rdf_facts(path, ((s, p, o, None) for s, p, o in sorted(graph)), kind, source)


def _turtle_error(path: Path, error: Any) -> FactFileError:
    """The line of rdflib's error offset, with a short excerpt of that line around it.

    rdflib's own `lines` counter runs ahead at the end of the file, and its message quotes the text
    around the error as Python bytes literals; the offset into the text it parsed is exact.
    """
    text, offset = getattr(error, "_str", None), getattr(error, "_i", None)
    why = getattr(error, "_why", None) or "syntax error"
    if not isinstance(text, bytes) or not isinstance(offset, int):
        return FactFileError(path, error.lines + 1, f"invalid Turtle: {why}")
    line = text.count(b"\n", 0, offset) + 1
    start = max(text.rfind(b"\n", 0, offset) + 1, offset - 40)
    end = text.find(b"\n", offset)
    end = min(len(text) if end < 0 else end, offset + 40)
    before = text[start:offset].decode("utf-8", "replace")
    after = text[offset:end].decode("utf-8", "replace")
    return FactFileError(path, line, f"invalid Turtle: {why}, at the ^ in {(before + '^' + after).strip()!r}")


# ---------------------------------------------------------------- MQuAKE


def mquake_chain_entities(record: dict) -> list[str]:
    """Subjects and objects of the record's edited chain, for the editor's entity test."""
    return entity_names((s, o) for s, _, o in record["orig"]["new_triples_labeled"])


def _mquake_relation_labels(records: list[Any]) -> dict[str, str]:
    """Wikidata relation id -> label, read off the id and label triples the cases carry side by side."""
    labels: dict[str, str] = {}
    for record in records:
        orig = record.get("orig") if isinstance(record, dict) else None
        if not isinstance(orig, dict):
            continue
        for ids_key, labeled_key in (("triples", "triples_labeled"), ("new_triples", "new_triples_labeled")):
            for ids, labeled in zip(orig.get(ids_key) or [], orig.get(labeled_key) or [], strict=False):
                if len(ids) == 3 and len(labeled) == 3 and isinstance(labeled[1], str):
                    labels.setdefault(ids[1], labeled[1])
    return labels


def _mquake_templates(records: list[Any]) -> dict[str, str]:
    """Relation id -> cloze template with "{}" for the subject, from the edit prompts."""
    templates: dict[str, str] = {}
    for record in records:
        for rewrite in record.get("requested_rewrite") or [] if isinstance(record, dict) else []:
            if isinstance(rewrite, dict) and "{}" in str(rewrite.get("prompt", "")):
                templates.setdefault(str(rewrite.get("relation_id")), rewrite["prompt"])
    return templates


def _cloze_sentence(cloze: str, obj: str) -> str:
    return f"{cloze.strip()} {obj}."


def _mquake_values(
    subject: str, relation: str, obj: str, sentence: str, aliases: dict[str, list[str]]
) -> dict[str, Any]:
    """One fact's fields, with the aliases the record gives for its subject and object."""
    return {
        "subject": subject,
        "relation": relation,
        "object": obj,
        "sentence": sentence,
        "subject_aliases": aliases.get(subject, []),
        "object_aliases": aliases.get(obj, []),
    }


def _mquake_aliases(record: dict) -> dict[str, list[str]]:
    """Entity name -> its aliases, from the answer aliases of the record's single hops and answers."""
    aliases: dict[str, list[str]] = {}

    def note(name: Any, names: Any) -> None:
        if isinstance(name, str) and isinstance(names, list):
            aliases.setdefault(name, []).extend(a for a in names if isinstance(a, str))

    for key in ("single_hops", "new_single_hops"):
        for hop in record.get(key) or []:
            if isinstance(hop, dict):
                note(hop.get("answer"), hop.get("answer_alias"))
    note(record.get("answer"), record.get("answer_alias"))
    note(record.get("new_answer"), record.get("new_answer_alias"))
    return aliases


def _mquake_edits(path: Path, index: int, record: dict, labels: dict[str, str], kind: FactKind) -> list[Fact]:
    aliases = _mquake_aliases(record)
    rewrites = record.get("requested_rewrite")
    if not isinstance(rewrites, list) or not rewrites:
        raise FactFileError.at_record(path, index, "case record has no requested_rewrite list")
    facts = []
    for rewrite in rewrites:
        try:
            prompt, subject = rewrite["prompt"], rewrite["subject"]
            target = rewrite["target_new"]["str"]
        except (KeyError, TypeError) as error:
            raise FactFileError.at_record(path, index, f"requested_rewrite entry lacks {error}") from None
        if not all(isinstance(value, str) for value in (prompt, subject, target)) or "{}" not in prompt:
            raise FactFileError.at_record(
                path, index, "requested_rewrite needs string prompt (with {}), subject, target"
            )
        relation = labels.get(str(rewrite.get("relation_id")), prompt)
        sentence = _cloze_sentence(prompt.replace("{}", subject), target)
        values = _mquake_values(subject, relation, target, sentence, aliases)
        facts.append(_make_fact(path, index, values, kind, f"mquake:{record.get('case_id', index)}"))
    return facts


def _mquake_background(path: Path, index: int, record: dict, templates: dict[str, str]) -> list[Fact]:
    """The case's world facts: its original chain and the unedited hops of its new chain."""
    orig = record.get("orig")
    if not isinstance(orig, dict):
        raise FactFileError.at_record(path, index, "case record has no orig block (needed for --with-kg)")
    edited = {tuple(triple) for triple in orig.get("edit_triples") or []}
    aliases = _mquake_aliases(record)
    chains = (
        (orig.get("triples") or [], orig.get("triples_labeled"), record.get("single_hops") or [], False),
        (
            orig.get("new_triples") or [],
            orig.get("new_triples_labeled"),
            record.get("new_single_hops") or [],
            True,
        ),
    )
    facts = []
    for ids, labeled, hops, skip_edited in chains:
        if not isinstance(labeled, list):
            raise FactFileError.at_record(path, index, "orig lacks triples_labeled / new_triples_labeled")
        for position, triple in enumerate(labeled):
            if not (
                isinstance(triple, list) and len(triple) == 3 and all(isinstance(v, str) for v in triple)
            ):
                raise FactFileError.at_record(path, index, f"bad labeled triple {triple!r}")
            triple_ids = tuple(ids[position]) if position < len(ids) else ()
            if skip_edited and triple_ids in edited:
                continue
            subject, relation, obj = triple
            hop = hops[position] if position < len(hops) and isinstance(hops[position], dict) else {}
            cloze = hop.get("cloze") if isinstance(hop.get("cloze"), str) else ""
            template = templates.get(str(triple_ids[1])) if len(triple_ids) == 3 else None
            if cloze and subject in cloze:
                sentence = _cloze_sentence(cloze, obj)
            elif template:
                sentence = _cloze_sentence(template.replace("{}", subject), obj)
            else:
                sentence = fallback_sentence(subject, relation, obj)
            values = _mquake_values(subject, relation, obj, sentence, aliases)
            facts.append(
                _make_fact(path, index, values, "background", f"mquake-kg:{record.get('case_id', index)}")
            )
    return facts


def _read_mquake(path: Path, options: LoadOptions, source: str, tick: Progress) -> list[Fact]:
    """Edits from requested_rewrite; with_kg adds the background world of every case first."""
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise FactFileError(path, error.lineno, f"invalid JSON: {error.msg}") from None
    if not isinstance(records, list):
        raise FactFileError(path, None, "expected a JSON list of MQuAKE case records")
    labels = _mquake_relation_labels(records)
    templates = _mquake_templates(records)
    background: list[Fact] = []
    edits: list[Fact] = []
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise FactFileError.at_record(path, index, "case record is not a JSON object")
        if options.edits:
            edits.extend(_mquake_edits(path, index, record, labels, options.kind))
        if options.with_kg:
            background.extend(_mquake_background(path, index, record, templates))
        tick(1)
    return background + edits


def demo_facts_path() -> Path:
    """The bundled demo facts: invented people and works, background knowledge plus a few edits."""
    return Path(__file__).parent / "data" / "demo_facts.jsonl"

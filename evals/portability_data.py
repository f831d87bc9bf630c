"""CounterFact / ZsRE portability files (EasyEdit / InstructEd formats) as edits with probes.

Each record becomes one edit (a sentence for the editor's instruction and a triple for the memory) and
its probes: Rel (the edit prompt), Gen (paraphrases), Loc (unrelated prompts, compared with the
unedited model), Por (one-hop portability question), Rep (the same edit asked about an alias of the
subject) and Rev (the inverse relation, answered by the subject).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evals.mquake_data import EvalDataError


@dataclass
class Probe:
    metric: str  # Rel | Gen | Loc | Por | Rep | Rev
    prompt: str
    targets: list[str]  # empty for Loc: the unedited model's own answer is the target
    # The true answer to the unrelated question (ZsRE's loc_ans; CounterFact's neighbours share the
    # edited subject's true object): the teacher-forced text of EasyEdit's token-level Loc.
    loc_answer: str | None = None


@dataclass
class EditCase:
    case: str
    subject: str
    relation: str
    target: str
    sentence: str
    probes: list[Probe] = field(default_factory=list)


def _relation(template: str, subject: str) -> str:
    """A relation label from the edit prompt, so the memory's (subject, relation) key matches edits of
    the same kind ('{} is a citizen of' -> 'is a citizen of')."""
    text = template.replace("{}", " ").replace(subject, " ")
    return " ".join(text.split()).rstrip("?") or "is"


def _portability(record: dict) -> list[Probe]:
    port = record.get("portability")
    if not port:
        return []
    return [Probe("Por", port["New Question"], [port["New Answer"]])]


def _counterfact(index: int, record: dict, max_loc: int | None) -> EditCase:
    rewrite = record["requested_rewrite"]
    subject, target = rewrite["subject"], rewrite["target_new"]["str"]
    edit_prompt = rewrite["prompt"].format(subject)
    case = EditCase(
        case=str(record.get("case_id", index)),
        subject=subject,
        relation=_relation(rewrite["prompt"], subject),
        target=target,
        sentence=record.get("ins") or f"{edit_prompt} {target}.",
    )
    case.probes.append(Probe("Rel", edit_prompt, [target]))
    case.probes += [Probe("Gen", p, [target]) for p in record.get("paraphrase_prompts", [])]
    true_object = rewrite.get("target_true", {}).get("str")
    case.probes += [
        Probe("Loc", p, [], true_object) for p in record.get("neighborhood_prompts", [])[:max_loc]
    ]
    case.probes += _portability(record)
    if record.get("alternative_subject"):
        case.probes.append(Probe("Rep", rewrite["prompt"].format(record["alternative_subject"]), [target]))
    return case


def _zsre(index: int, record: dict) -> EditCase:
    subject, target, src = record["subject"], record["alt"], record["src"]
    case = EditCase(
        case=str(record.get("case_id", index)),
        subject=subject,
        relation=_relation(src, subject),
        target=target,
        sentence=record.get("ins") or f"{src} {target}.",
    )
    case.probes.append(Probe("Rel", src, [target]))
    if record.get("rephrase"):
        case.probes.append(Probe("Gen", record["rephrase"], [target]))
    if record.get("loc"):
        question = record["loc"].removeprefix("nq question:").strip()
        case.probes.append(Probe("Loc", question[:1].upper() + question[1:] + "?", [], record.get("loc_ans")))
    case.probes += _portability(record)
    if record.get("alter_subject_question"):
        case.probes.append(Probe("Rep", record["alter_subject_question"], [target]))
    if record.get("inverse question"):
        case.probes.append(Probe("Rev", record["inverse question"], [subject]))
    return case


def load_edit_cases(path: Path, max_loc: int | None = None) -> list[EditCase]:
    try:
        data: Any = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise EvalDataError(f"{path}:{err.lineno}: not valid JSON ({err.msg})") from err
    if not isinstance(data, list):
        raise EvalDataError(f"{path}: expected a JSON list of CounterFact or ZsRE records")
    cases = []
    for index, record in enumerate(data):
        if "requested_rewrite" in record:
            cases.append(_counterfact(index, record, max_loc))
        elif {"src", "alt", "subject"} <= record.keys():
            cases.append(_zsre(index, record))
        else:
            raise EvalDataError(
                f"{path}: record {index} is neither CounterFact (requested_rewrite) nor ZsRE (src/alt)"
            )
    return cases

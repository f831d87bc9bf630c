"""Scoring rules of the published knowledge-editing benchmarks, kept free of models so they can be
checked against hand-computed values.

MQuAKE: a case is correct when any of its three paraphrased questions is answered with the new answer
or an alias (normalised exact match of the extracted answer). Hop-wise accuracy (PokeMQA) also needs
every intermediate answer of the chain to be right. Portability (InstructEd / EasyEdit): Rel, Gen,
Loc, Por (+ Rep, Rev), summarised by their mean (Score) and harmonic mean (H).
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from statistics import mean

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = set(string.punctuation) | {"‘", "’", "“", "”", "–", "—", "…", "«", "»", "¿", "¡"}


def normalize(text: str) -> str:
    """SQuAD-style answer normalisation, plus unicode folding so 'Kitarović' matches 'Kitarovic'.

    NFKD + dropping combining marks folds accents; punctuation becomes a space (so 'Grabar-Kitarović'
    and 'Grabar Kitarović' agree) before articles and repeated whitespace are removed.
    """
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    text = "".join(" " if ch in _PUNCT else ch for ch in text)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def alias_match(prediction: str, answer: str, aliases: Iterable[str] = ()) -> bool:
    """Normalised exact match of a prediction against an answer or any alias; an empty prediction never
    matches (an alias that normalises to nothing, e.g. 'The', must not make silence correct)."""
    pred = normalize(prediction)
    if not pred:
        return False
    return any(pred == normalize(gold) for gold in (answer, *aliases) if normalize(gold))


def alias_contained(prediction: str, answer: str, aliases: Iterable[str] = ()) -> bool:
    """Lenient variant: a gold answer occurs as a whole-word span of the prediction. Reported beside the
    exact match (never instead of it) because a small model often answers in a full sentence."""
    pred = f" {normalize(prediction)} "
    return any(f" {gold} " in pred for gold in (normalize(g) for g in (answer, *aliases)) if gold)


def safe_mean(values: Iterable[float | None]) -> float | None:
    kept = [float(v) for v in values if v is not None]
    return mean(kept) if kept else None


# ---------------------------------------------------------------- MQuAKE


def case_correct(predictions: Sequence[str], answer: str, aliases: Sequence[str]) -> bool:
    """MQuAKE multi-hop rule: any of the question paraphrases answered correctly."""
    return any(alias_match(pred, answer, aliases) for pred in predictions)


def hops_correct(hop_predictions: Sequence[str], hops: Sequence[Mapping]) -> bool:
    """Every single-hop answer of the edited chain (`new_single_hops`) right, in order."""
    if len(hop_predictions) != len(hops):
        return False
    return all(
        alias_match(pred, hop["answer"], hop.get("answer_alias", []))
        for pred, hop in zip(hop_predictions, hops, strict=True)
    )


def intermediate_answers_cover(intermediates: Sequence[str], hops: Sequence[Mapping]) -> bool:
    """For decomposition agents: each hop's answer appears among the agent's intermediate answers, in
    chain order (the final hop may also be the final answer, which callers append)."""
    position = 0
    for hop in hops:
        while position < len(intermediates) and not alias_match(
            intermediates[position], hop["answer"], hop.get("answer_alias", [])
        ):
            position += 1
        if position == len(intermediates):
            return False
        position += 1
    return True


def hop_wise_correct(multihop_correct: bool, chain_correct: bool | None) -> bool | None:
    """PokeMQA hop-wise accuracy: the final answer AND the whole chain must be right."""
    if chain_correct is None:
        return None
    return multihop_correct and chain_correct


def fact_recall(needed: Sequence[tuple[str, str]], used: Sequence[tuple[str, str]]) -> float | None:
    """Share of needed (subject, object) pairs found among the used facts; relation labels differ between
    sources (Wikidata label vs edit prompt), so subject and object identify a fact."""
    if not needed:
        return None
    used_keys = {(normalize(s), normalize(o)) for s, o in used}
    return sum((normalize(s), normalize(o)) in used_keys for s, o in needed) / len(needed)


def accuracy_by(records: Sequence[Mapping], key: str, flag: str = "correct") -> dict[str, float]:
    """Accuracy of `flag` grouped by `key` (e.g. number of hops or of edits); keys sorted numerically."""
    groups: dict[str, list[bool]] = defaultdict(list)
    for record in records:
        groups[str(record[key])].append(bool(record[flag]))
    return {k: mean(groups[k]) for k in sorted(groups, key=lambda v: (len(v), v))}


def _mquake_block(records: Sequence[Mapping]) -> dict:
    if not records:
        return {"n_cases": 0}
    return {
        "n_cases": len(records),
        "multihop_acc": mean(bool(r["correct"]) for r in records),
        "multihop_acc_contains": mean(bool(r["correct_contains"]) for r in records),
        "hop_acc": safe_mean(r["hop_correct"] for r in records),
        "by_hops": accuracy_by(records, "n_hops"),
        "by_n_edits": accuracy_by(records, "n_edits"),
        "retrieval_recall": safe_mean(r["retrieval_recall"] for r in records),
        "unedited_rate": mean(bool(r["unedited"]) for r in records),
    }


def summarize_mquake(records: Sequence[Mapping]) -> dict:
    """Aggregate per-case records (as written to cases.jsonl) into the summary metrics.

    All cases, then the consistent ones only (the loaded memory does not contradict their gold chain;
    see `evals.protocol`), then, when some cases were asked with their edits withheld, the edited and
    unedited cases apart. Records from before the protocol carry neither field: they count as edited
    and consistent, and the summary says `consistency_recorded: false`.
    """
    if not records:
        return {"n_cases": 0}
    summary = _mquake_block(records)
    consistent = [r for r in records if r.get("consistent", True)]
    block = _mquake_block(consistent)
    summary.update(
        {
            "consistency_recorded": all("consistent" in r for r in records),
            "n_consistent": len(consistent),
            "multihop_acc_consistent": block.get("multihop_acc"),
            "hop_acc_consistent": block.get("hop_acc"),
            "by_hops_consistent": block.get("by_hops"),
            "retrieval_recall_consistent": block.get("retrieval_recall"),
        }
    )
    edited = [r for r in records if r.get("target", "new") == "new"]
    unedited = [r for r in records if r.get("target", "new") == "original"]
    if unedited:
        for name, group in (("edited", edited), ("unedited", unedited)):
            kept = [r for r in group if r.get("consistent", True)]
            summary.update(
                {
                    f"n_{name}": len(group),
                    f"{name}_acc": mean(bool(r["correct"]) for r in group) if group else None,
                    f"n_{name}_consistent": len(kept),
                    f"{name}_acc_consistent": mean(bool(r["correct"]) for r in kept) if kept else None,
                }
            )
    return summary


# ---------------------------------------------------------------- portability

PORTABILITY_METRICS = ("Rel", "Gen", "Loc", "Por", "Rep", "Rev")


def harmonic_mean(values: Sequence[float]) -> float | None:
    """H of the InstructEd tables: punishes a method that trades one metric for another; 0 if any is 0."""
    if not values:
        return None
    if any(v <= 0 for v in values):
        return 0.0
    return len(values) / sum(1.0 / v for v in values)


def score_and_h(metrics: Mapping[str, float | None]) -> dict[str, float | None]:
    present = [metrics[name] for name in PORTABILITY_METRICS if metrics.get(name) is not None]
    return {"Score": mean(present) if present else None, "H": harmonic_mean(present)}


def token_accuracy(per_token_correct: Sequence[bool]) -> float:
    """EasyEdit's teacher-forced accuracy of one target: the share of target tokens whose argmax
    prediction (given the gold prefix) is right: equal to the gold token, or for Loc equal to the
    unedited model's prediction."""
    if not per_token_correct:
        raise ValueError("a target needs at least one token")
    return sum(bool(c) for c in per_token_correct) / len(per_token_correct)


def summarize_portability(probes: Sequence[Mapping]) -> dict:
    """Per-metric means over probes, then averaged per record first so a record with ten neighbourhood
    prompts weighs as much as one with a single prompt (EasyEdit averages per case too)."""
    out: dict[str, dict] = {}
    for field in ("exact", "contains", "token_acc"):
        per_metric: dict[str, list[float]] = {}
        for name in PORTABILITY_METRICS:
            per_case: dict[str, list[float]] = defaultdict(list)
            for probe in probes:
                if probe["metric"] == name and probe.get(field) is not None:
                    per_case[str(probe["case"])].append(float(probe[field]))
            if per_case:
                per_metric[name] = [mean(v) for v in per_case.values()]
        metrics = {name: mean(v) for name, v in per_metric.items()}
        out[field] = {**metrics, **score_and_h(metrics)} if metrics else {}
    return out

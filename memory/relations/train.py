"""Train the relation scorer on the training files only: `python -m memory.relations.train --data-dir D`.

Examples come from MQuAKE-hard-train (multi-hop questions with their gold relation chains; never the
dev file). For each question and hop i of its chain:
- positive: the chain's relation i after relations 0..i-1;
- negatives: random relations of the training vocabulary, the relations already used (a path must not
  repeat itself), and later relations of the chain (order matters: from a person, "head of state" is
  not yet the relation to follow);
- after the whole chain, every candidate is a negative: that is how the search learns to stop;
- with the hop unknown (a fact found by dense search), every chain relation is a positive.
Each question is also copied with its subject renamed to an invented name, so the scorer does not lean on
familiar names. `--holdout-relations K` trains without the cases that use K held-out relations and
reports ranking accuracy on them, for the cosine baseline and the scorer.

`--head answer-type` trains the answer-type head (`memory.relations.answer_type`) instead, from the same
file: each multi-hop question's positive is its chain's last relation, each single-hop question's its
own; the negatives are the chain's other relations (a path one hop short ends on one of them) and random
relations of the vocabulary.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from memory.embedder import embed
from memory.relations.answer_type import AnswerTypeHead, AnswerTypeScorer, opening
from memory.relations.config import RelationScorerConfig
from memory.relations.model import UNKNOWN_HOP, WEIGHTS_DIR, RelationHead, RelationScorer, relation_phrase

HARD_TRAIN = Path("mquake") / "MQuAKE-hard-train.json"
_SYLLABLES = ("zor", "vel", "ka", "drim", "ost", "lu", "phen", "mar", "qui", "tes", "bran", "oly", "sen")


@dataclass(frozen=True)
class Relation:
    label: str
    phrase: str


@dataclass
class Chain:
    questions: list[str]
    relations: list[Relation]


def invented_name(rng: random.Random) -> str:
    def word() -> str:
        return "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()

    return f"{word()} {word()}"


def read_chains(data_dir: Path) -> list[Chain]:
    """Each MQuAKE-hard-train case's questions with its edited chain's relations (label and phrase)."""
    records = json.loads((data_dir / HARD_TRAIN).read_text(encoding="utf-8"))
    chains = []
    for record in records:
        relations = []
        for (subject, label, obj), hop in zip(
            record["orig"]["new_triples_labeled"], record["new_single_hops"], strict=True
        ):
            relations.append(Relation(label, relation_phrase(f"{hop['cloze']} {obj}.", subject, obj, label)))
        chains.append(Chain(list(record["questions"]), relations))
    return chains


def renamed(chain: Chain, subject: str, rng: random.Random, copies: int) -> list[str]:
    out = []
    for question in chain.questions:
        if subject and subject in question:
            out.extend(question.replace(subject, invented_name(rng)) for _ in range(copies))
    return out


@dataclass
class Examples:
    questions: list[str]
    labels: list[str]
    phrases: list[str]
    paths: list[list[str]]
    hops: list[int]
    targets: list[float]

    def add(self, question: str, relation: Relation, path: list[str], hop: int, target: float) -> None:
        self.questions.append(question)
        self.labels.append(relation.label)
        self.phrases.append(relation.phrase)
        self.paths.append(path)
        self.hops.append(hop)
        self.targets.append(target)


def build_examples(
    chains: list[Chain], subjects: list[str], config: RelationScorerConfig, rng: random.Random
) -> Examples:
    vocabulary = sorted({relation for chain in chains for relation in chain.relations}, key=str)
    examples = Examples([], [], [], [], [], [])
    for chain, subject in zip(chains, subjects, strict=True):
        labels = [relation.label for relation in chain.relations]
        others = [r for r in vocabulary if r.label not in labels]
        questions = chain.questions + renamed(chain, subject, rng, config.invented_name_copies)
        for question in questions:
            for hop, relation in enumerate(chain.relations):
                path = labels[:hop]
                examples.add(question, relation, path, hop, 1.0)
                for negative in rng.sample(others, min(config.negatives, len(others))):
                    examples.add(question, negative, path, hop, 0.0)
                for used in chain.relations[:hop] + chain.relations[hop + 1 :]:
                    if used.label != relation.label:
                        examples.add(question, used, path, hop, 0.0)
                examples.add(question, relation, path, UNKNOWN_HOP, 1.0)
                examples.add(question, rng.choice(others), [], UNKNOWN_HOP, 0.0)
            for negative in rng.sample(others, min(config.negatives, len(others))) + chain.relations:
                examples.add(question, negative, labels, len(labels), 0.0)
    return examples


def tensors(examples: Examples, opening_words: int | None = None) -> dict[str, torch.Tensor]:
    """The examples' embeddings; with `opening_words`, also each question's opening (answer-type head)."""
    openings = [opening(q, opening_words) for q in examples.questions] if opening_words else []
    texts = sorted(set(examples.questions) | set(examples.labels) | set(examples.phrases) | set(openings))
    vectors = dict(zip(texts, embed(texts, batch_size=256), strict=True))
    dim = next(iter(vectors.values())).shape[0]

    def path_vector(path: list[str]) -> np.ndarray:
        return np.mean([vectors[label] for label in path], axis=0) if path else np.zeros(dim, np.float32)

    def repeat(label: str, path: list[str]) -> float:
        return max((float(vectors[label] @ vectors[p]) for p in path), default=0.0)

    data = {
        "question": torch.from_numpy(np.stack([vectors[q] for q in examples.questions])),
        "label": torch.from_numpy(np.stack([vectors[x] for x in examples.labels])),
        "phrase": torch.from_numpy(np.stack([vectors[x] for x in examples.phrases])),
        "path": torch.from_numpy(np.stack([path_vector(p) for p in examples.paths]).astype(np.float32)),
        "repeat": torch.tensor(
            [repeat(x, p) for x, p in zip(examples.labels, examples.paths, strict=True)], dtype=torch.float32
        ),
        "hops": torch.tensor(examples.hops, dtype=torch.long),
        "target": torch.tensor(examples.targets, dtype=torch.float32),
    }
    if openings:
        data["start"] = torch.from_numpy(np.stack([vectors[text] for text in openings]))
    return data


RELATION_INPUTS = ("question", "label", "phrase", "path", "repeat", "hops")
ANSWER_TYPE_INPUTS = ("question", "start", "label", "phrase")


def train_head(
    head: torch.nn.Module,
    data: dict[str, torch.Tensor],
    inputs: tuple[str, ...],
    config: RelationScorerConfig,
) -> torch.nn.Module:
    """Binary cross-entropy over the examples, positives up-weighted to balance them with negatives. The
    caller seeds torch before building the head, so its initial weights are reproducible too."""
    # A head this small gains nothing from intra-op threads, and they spin against other processes.
    torch.set_num_threads(1)
    optimizer = torch.optim.AdamW(
        head.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    n = len(data["target"])
    positives = float(data["target"].sum())
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor((n - positives) / max(positives, 1.0)))
    for epoch in range(config.epochs):
        order = torch.randperm(n)
        total = 0.0
        for start in range(0, n, config.batch_size):
            batch = order[start : start + config.batch_size]
            logits = head(*(data[key][batch] for key in inputs))
            loss = loss_fn(logits, data["target"][batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(batch)
        print(f"epoch {epoch + 1}/{config.epochs}: loss {total / n:.4f}", flush=True)
    return head.eval()


def fit(data: dict[str, torch.Tensor], config: RelationScorerConfig) -> RelationHead:
    torch.manual_seed(config.seed)
    head = RelationHead(config)
    return train_head(head, data, RELATION_INPUTS, config)  # type: ignore[return-value]


# ------------------------------------------------------------------------------ the answer-type head


@dataclass
class Asked:
    """A question, the relation its answer is of, and the other relations of its case's chain."""

    question: str
    last: Relation
    others: list[Relation]
    case: int  # index of the training case it came from


def read_asked(
    data_dir: Path, chains: list[Chain], subjects: list[str], rng: random.Random, copies: int
) -> list[Asked]:
    """Multi-hop questions (their chain's last relation) and single-hop questions (their own), each also
    with its subject renamed to an invented name."""
    records = json.loads((data_dir / HARD_TRAIN).read_text(encoding="utf-8"))
    asked: list[Asked] = []
    for case, (record, chain, subject) in enumerate(zip(records, chains, subjects, strict=True)):
        last = chain.relations[-1]
        others = [r for r in chain.relations if r.label != last.label]
        for question in chain.questions + renamed(chain, subject, rng, copies):
            asked.append(Asked(question, last, others, case))
        for (hop_subject, _, _), hop, relation in zip(
            record["orig"]["new_triples_labeled"], record["new_single_hops"], chain.relations, strict=True
        ):
            rest = [r for r in chain.relations if r.label != relation.label]
            one = Chain([hop["question"]], [relation])
            for question in one.questions + renamed(one, hop_subject, rng, copies):
                asked.append(Asked(question, relation, rest, case))
    return asked


def build_answer_type_examples(
    asked: list[Asked], vocabulary: list[Relation], config: RelationScorerConfig, rng: random.Random
) -> Examples:
    examples = Examples([], [], [], [], [], [])
    for item in asked:
        examples.add(item.question, item.last, [], 0, 1.0)
        for other in item.others:
            examples.add(item.question, other, [], 0, 0.0)
        unrelated = [r for r in vocabulary if r.label != item.last.label]
        for negative in rng.sample(unrelated, min(config.negatives, len(unrelated))):
            examples.add(item.question, negative, [], 0, 0.0)
    return examples


def answer_type_accuracy(scorer: AnswerTypeScorer | None, asked: list[Asked]) -> dict[str, float]:
    """Share of questions whose last relation scores above every other relation of their chain (the
    choice a path one hop short or one hop long puts to it); `None` scores by the cosine of question and
    label."""
    texts = sorted(
        {r.label for a in asked for r in [a.last, *a.others]}
        | {r.phrase for a in asked for r in [a.last, *a.others]}
    )
    cache = dict(zip(texts, embed(texts, batch_size=256), strict=True))
    questions = [a.question for a in asked]
    question_vectors = embed(questions, batch_size=256)
    opening_vectors = (
        embed([scorer.opening(q) for q in questions], batch_size=256) if scorer else question_vectors
    )

    def vectors(items: list[str]) -> np.ndarray:
        return np.stack([cache[text] for text in items])

    hits = []
    for item, vector, start in zip(asked, question_vectors, opening_vectors, strict=True):
        candidates = [item.last, *item.others]
        if len(candidates) < 2:
            continue
        if scorer is None:
            scores = vectors([r.label for r in candidates]) @ vector
        else:
            scores = scorer.probabilities(vector, start, [(r.label, r.phrase) for r in candidates], vectors)
        hits.append(int(np.argmax(scores)) == 0)
    return {"last_relation_first": float(np.mean(hits)), "questions": len(hits)}


def chain_ranking_accuracy(
    scorer: RelationScorer | None, chains: list[Chain], vocabulary: list[Relation]
) -> float:
    """Share of (question, hop) where the gold relation ranks first among the whole vocabulary given the
    gold path so far; `None` scores by the cosine of question and label (the old walk's rule)."""
    label_vectors = dict(
        zip([r.label for r in vocabulary], embed([r.label for r in vocabulary]), strict=True)
    )
    questions = [q for chain in chains for q in chain.questions]
    question_vectors = dict(zip(questions, embed(questions, batch_size=256), strict=True))
    hits = []
    for chain in chains:
        labels = [r.label for r in chain.relations]
        for question in chain.questions:
            vector = question_vectors[question]
            for hop, relation in enumerate(chain.relations):
                candidates = [r for r in vocabulary if r.label not in labels[:hop]]
                if scorer is None:
                    scores = np.array([label_vectors[r.label] @ vector for r in candidates])
                else:
                    pairs = [(r.label, r.phrase) for r in candidates]
                    scores = scorer.score(vector, pairs, labels[:hop], hop)
                hits.append(candidates[int(np.argmax(scores))].label == relation.label)
    return float(np.mean(hits))


def train_relation_scorer(
    args: argparse.Namespace,
    config: RelationScorerConfig,
    train: list[int],
    held: list[int],
    chains: list[Chain],
    subjects: list[str],
    vocabulary: list[Relation],
) -> None:
    rng = random.Random(config.seed)
    train_chains = [chains[i] for i in train]
    examples = build_examples(train_chains, [subjects[i] for i in train], config, rng)
    print(f"{len(examples.targets)} examples from {len(train_chains)} cases", flush=True)
    started = time.perf_counter()
    scorer = RelationScorer(fit(tensors(examples), config))
    print(f"trained in {time.perf_counter() - started:.0f} s", flush=True)
    report = {"train_chain_accuracy": chain_ranking_accuracy(scorer, train_chains[:100], vocabulary)}
    if held:
        held_chains = [chains[i] for i in held]
        report["heldout_chain_accuracy"] = chain_ranking_accuracy(scorer, held_chains, vocabulary)
        report["heldout_chain_accuracy_cosine"] = chain_ranking_accuracy(None, held_chains, vocabulary)
    print(json.dumps(report, indent=2))
    if not held:
        scorer.save(args.out)
        _write_report(args.out / "relation_scorer_training.json", len(examples.targets), report)


def train_answer_type(
    args: argparse.Namespace,
    config: RelationScorerConfig,
    train: list[int],
    held: list[int],
    chains: list[Chain],
    subjects: list[str],
    vocabulary: list[Relation],
) -> None:
    rng = random.Random(config.seed)
    copies = config.invented_name_copies
    asked = read_asked(args.data_dir, chains, subjects, rng, copies)
    train_set, held_set = set(train), set(held)
    train_asked = [a for a in asked if a.case in train_set]
    held_asked = [a for a in asked if a.case in held_set]
    examples = build_answer_type_examples(train_asked, vocabulary, config, rng)
    print(f"{len(examples.targets)} examples from {len(train)} cases", flush=True)
    started = time.perf_counter()
    torch.manual_seed(config.seed)
    data = tensors(examples, config.opening_words)
    head = train_head(AnswerTypeHead(config), data, ANSWER_TYPE_INPUTS, config)
    scorer = AnswerTypeScorer(head)  # type: ignore[arg-type]
    print(f"trained in {time.perf_counter() - started:.0f} s", flush=True)
    report = {"train": answer_type_accuracy(scorer, train_asked[:2000])}
    if held:
        report["heldout"] = answer_type_accuracy(scorer, held_asked)
        report["heldout_cosine"] = answer_type_accuracy(None, held_asked)
    print(json.dumps(report, indent=2))
    if not held:
        scorer.save(args.out)
        _write_report(args.out / "answer_type_training.json", len(examples.targets), report)


def _write_report(path: Path, examples: int, report: dict) -> None:
    path.write_text(
        json.dumps({"data": str(HARD_TRAIN), "examples": examples, **report}, indent=2) + "\n",
        encoding="utf-8",
    )
    print(f"wrote {path.parent}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=WEIGHTS_DIR)
    parser.add_argument("--config", type=Path, default=None, help="YAML with RelationScorerConfig fields")
    parser.add_argument("--head", choices=("relation", "answer-type"), default="relation")
    parser.add_argument("--holdout-relations", type=int, default=0)
    args = parser.parse_args()
    config = RelationScorerConfig.from_yaml(args.config) if args.config else RelationScorerConfig()
    records = json.loads((args.data_dir / HARD_TRAIN).read_text(encoding="utf-8"))
    chains = read_chains(args.data_dir)
    subjects = [record["orig"]["new_triples_labeled"][0][0] for record in records]
    vocabulary = sorted({r for chain in chains for r in chain.relations}, key=str)
    train, held = list(range(len(chains))), []
    if args.holdout_relations:
        labels = sorted({r.label for r in vocabulary})
        held_labels = set(random.Random(config.seed + 1).sample(labels, args.holdout_relations))
        uses_held = [any(r.label in held_labels for r in c.relations) for c in chains]
        train = [i for i, flag in enumerate(uses_held) if not flag]
        held = [i for i, flag in enumerate(uses_held) if flag]
        print(f"held out {sorted(held_labels)}: {len(train)} training cases, {len(held)} test cases")
    trainer = train_answer_type if args.head == "answer-type" else train_relation_scorer
    trainer(args, config, train, held, chains, subjects, vocabulary)


if __name__ == "__main__":
    main()

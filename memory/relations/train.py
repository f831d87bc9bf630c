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


def tensors(examples: Examples) -> dict[str, torch.Tensor]:
    texts = sorted(set(examples.questions) | set(examples.labels) | set(examples.phrases))
    vectors = dict(zip(texts, embed(texts, batch_size=256), strict=True))
    dim = next(iter(vectors.values())).shape[0]

    def path_vector(path: list[str]) -> np.ndarray:
        return np.mean([vectors[label] for label in path], axis=0) if path else np.zeros(dim, np.float32)

    def repeat(label: str, path: list[str]) -> float:
        return max((float(vectors[label] @ vectors[p]) for p in path), default=0.0)

    return {
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


def fit(data: dict[str, torch.Tensor], config: RelationScorerConfig) -> RelationHead:
    torch.manual_seed(config.seed)
    # A head this small gains nothing from intra-op threads, and they spin against other processes.
    torch.set_num_threads(1)
    head = RelationHead(config)
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
            logits = head(
                *(data[key][batch] for key in ("question", "label", "phrase", "path", "repeat", "hops"))
            )
            loss = loss_fn(logits, data["target"][batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(batch)
        print(f"epoch {epoch + 1}/{config.epochs}: loss {total / n:.4f}", flush=True)
    return head.eval()


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=WEIGHTS_DIR)
    parser.add_argument("--config", type=Path, default=None, help="YAML with RelationScorerConfig fields")
    parser.add_argument("--holdout-relations", type=int, default=0)
    args = parser.parse_args()
    config = RelationScorerConfig.from_yaml(args.config) if args.config else RelationScorerConfig()
    rng = random.Random(config.seed)
    records = json.loads((args.data_dir / HARD_TRAIN).read_text(encoding="utf-8"))
    chains = read_chains(args.data_dir)
    subjects = [record["orig"]["new_triples_labeled"][0][0] for record in records]
    vocabulary = sorted({r for chain in chains for r in chain.relations}, key=str)
    train_chains, train_subjects, held = chains, subjects, []
    if args.holdout_relations:
        labels = sorted({r.label for r in vocabulary})
        held_labels = set(random.Random(config.seed + 1).sample(labels, args.holdout_relations))
        keep = [not any(r.label in held_labels for r in c.relations) for c in chains]
        train_chains = [c for c, k in zip(chains, keep, strict=True) if k]
        train_subjects = [s for s, k in zip(subjects, keep, strict=True) if k]
        held = [c for c, k in zip(chains, keep, strict=True) if not k]
        print(f"held out {sorted(held_labels)}: {len(train_chains)} training cases, {len(held)} test cases")
    examples = build_examples(train_chains, train_subjects, config, rng)
    print(f"{len(examples.targets)} examples from {len(train_chains)} cases", flush=True)
    started = time.perf_counter()
    scorer = RelationScorer(fit(tensors(examples), config))
    print(f"trained in {time.perf_counter() - started:.0f} s", flush=True)
    report = {"train_chain_accuracy": chain_ranking_accuracy(scorer, train_chains[:100], vocabulary)}
    if held:
        report["heldout_chain_accuracy"] = chain_ranking_accuracy(scorer, held, vocabulary)
        report["heldout_chain_accuracy_cosine"] = chain_ranking_accuracy(None, held, vocabulary)
    print(json.dumps(report, indent=2))
    if not args.holdout_relations:
        scorer.save(args.out)
        (args.out / "relation_scorer_training.json").write_text(
            json.dumps({"data": str(HARD_TRAIN), "examples": len(examples.targets), **report}, indent=2)
            + "\n",
            encoding="utf-8",
        )
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

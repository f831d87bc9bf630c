"""Train PokeMQA's scope detector on PokeMQA's edit/question data: `python -m agent.pokemqa.train`.

Data: `{edit, questions[4]}` records (the questions are in the edit's scope). Positives pair each
question with its edit; negatives pair it with other edits: hard ones (the edits nearest to its own
edit in embedding space, which share a subject or a relation) and random ones. An edit whose own
questions nearly repeat this question (the same subject and relation with another object) is in
scope too, so it is never used as a negative. The split is by edit and seeded; the threshold is
chosen on a validation slice of the training edits, and the held-out edits are only measured.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.progress import track
from rich.table import Table
from torch import nn

from agent.pokemqa.detector import WEIGHTS_DIR, PairScorer, ScopeDetector
from memory.embedder import embed, embedder_path

DEFAULT_DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "pokemqa" / "cls-filtered.json"
SAME_SCOPE_COSINE = 0.9  # question-to-question cosine above which another edit counts as in scope


def load_records(path: Path) -> list[dict]:
    records = json.loads(path.read_text())
    seen: set[str] = set()
    unique = []
    for record in records:
        if record["edit"] not in seen and record["questions"]:
            seen.add(record["edit"])
            unique.append(record)
    return unique


def encode(texts: list[str]) -> np.ndarray:
    # fp32, as the shipped heads were trained.
    return embed(texts, batch_size=128, precision="fp32")


class PairData:
    """Question and edit embeddings, plus for each question its edit and its hard negatives."""

    def __init__(self, records: list[dict], edit_vecs: np.ndarray, question_vecs: np.ndarray, n_hard: int):
        self.edit_vecs = edit_vecs
        self.question_vecs = question_vecs
        self.question_edit = np.array([i for i, r in enumerate(records) for _ in r["questions"]])
        first_question = np.cumsum([0] + [len(r["questions"]) for r in records])
        similar = edit_vecs @ edit_vecs.T
        np.fill_diagonal(similar, -np.inf)
        nearest = np.argsort(-similar, axis=1)[:, : 3 * n_hard]
        self.hard: list[np.ndarray] = []
        for qi, ei in enumerate(self.question_edit):
            keep = []
            for other in nearest[ei]:
                others_questions = question_vecs[first_question[other] : first_question[other + 1]]
                if float((others_questions @ question_vecs[qi]).max()) < SAME_SCOPE_COSINE:
                    keep.append(int(other))
                if len(keep) == n_hard:
                    break
            self.hard.append(np.array(keep, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.question_edit)


def detector_pairs(data: PairData, rng: np.random.Generator, n_random: int) -> tuple[np.ndarray, ...]:
    questions, edits, labels = [], [], []
    n_edits = len(data.edit_vecs)
    for qi, ei in enumerate(data.question_edit):
        negatives = list(data.hard[qi]) + [int(x) for x in rng.integers(0, n_edits, n_random) if x != ei]
        questions += [qi] * (1 + len(negatives))
        edits += [int(ei), *negatives]
        labels += [1.0] + [0.0] * len(negatives)
    return np.array(questions), np.array(edits), np.array(labels, dtype=np.float32)


def train_detector(data: PairData, epochs: int, seed: int, hidden: int) -> PairScorer:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = PairScorer(data.edit_vecs.shape[1], hidden)
    optimiser = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    loss_fn = nn.BCEWithLogitsLoss()
    q_all, e_all = torch.from_numpy(data.question_vecs), torch.from_numpy(data.edit_vecs)
    for _ in track(range(epochs), description="pre-detector"):
        qi, ei, labels = detector_pairs(data, rng, n_random=2)
        order = rng.permutation(len(labels))
        for start in range(0, len(order), 512):
            idx = order[start : start + 512]
            logits = model(q_all[qi[idx]], e_all[ei[idx]])
            loss = loss_fn(logits, torch.from_numpy(labels[idx]))
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return model.eval()


def train_disambiguator(data: PairData, epochs: int, seed: int, hidden: int) -> PairScorer:
    """Listwise: the true edit must outscore the hard negatives of the same question (index 0 is true)."""
    torch.manual_seed(seed + 1)
    rng = np.random.default_rng(seed + 1)
    model = PairScorer(data.edit_vecs.shape[1], hidden)
    optimiser = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    q_all, e_all = torch.from_numpy(data.question_vecs), torch.from_numpy(data.edit_vecs)
    width = min(len(h) for h in data.hard)
    candidates = np.stack(
        [np.concatenate([[ei], h[:width]]) for ei, h in zip(data.question_edit, data.hard, strict=True)]
    )
    for _ in track(range(epochs), description="disambiguator"):
        order = rng.permutation(len(candidates))
        for start in range(0, len(order), 256):
            idx = order[start : start + 256]
            cand = torch.from_numpy(candidates[idx])
            questions = q_all[idx][:, None, :].expand(-1, cand.shape[1], -1)
            logits = model(questions, e_all[cand])
            loss = nn.functional.cross_entropy(logits, torch.zeros(len(idx), dtype=torch.long))
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return model.eval()


@torch.inference_mode()
def pair_probabilities(model: PairScorer, data: PairData, seed: int) -> tuple[np.ndarray, np.ndarray]:
    qi, ei, labels = detector_pairs(data, np.random.default_rng(seed), n_random=2)
    logits = model(torch.from_numpy(data.question_vecs[qi]), torch.from_numpy(data.edit_vecs[ei]))
    return torch.sigmoid(logits).numpy(), labels


def classification_metrics(probs: np.ndarray, labels: np.ndarray, threshold: float) -> dict[str, float]:
    predicted = probs >= threshold
    truth = labels > 0.5
    tp = float((predicted & truth).sum())
    precision = tp / max(predicted.sum(), 1)
    recall = tp / max(truth.sum(), 1)
    return {
        "accuracy": float((predicted == truth).mean()),
        "precision": precision,
        "recall": recall,
        "f1": 2 * precision * recall / max(precision + recall, 1e-9),
    }


def best_threshold(probs: np.ndarray, labels: np.ndarray) -> float:
    grid = np.linspace(0.05, 0.95, 91)
    return float(max(grid, key=lambda t: classification_metrics(probs, labels, t)["f1"]))


def retrieval_accuracy(detector: ScopeDetector, data: PairData, k: int = 5) -> dict[str, float]:
    """As the agent uses it: dense top-k of the held-out edits, detector filter, disambiguator pick.

    `abstain_without_edit`: with the question's own edit removed from memory, how often the detector
    rightly applies no edit (dense top-1 alone would always apply the nearest one).
    """
    similar = data.question_vecs @ data.edit_vecs.T
    order = np.argsort(-similar, axis=1)
    dense_hits = picked_hits = abstained = 0

    def pick(qi: int, candidates: np.ndarray) -> int:
        probs, ranks = detector.score_embeddings(data.question_vecs[qi], data.edit_vecs[candidates])
        passing = [j for j in range(len(candidates)) if probs[j] >= detector.threshold]
        return int(candidates[max(passing, key=lambda j: ranks[j])]) if passing else -1

    for qi, ei in enumerate(data.question_edit):
        dense_hits += int(order[qi, 0] == ei)
        picked_hits += int(pick(qi, order[qi, :k]) == ei)
        abstained += int(pick(qi, order[qi][order[qi] != ei][:k]) == -1)
    n = len(data)
    return {
        "dense_top1": dense_hits / n,
        "detector_pick": picked_hits / n,
        "abstain_without_edit": abstained / n,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=WEIGHTS_DIR)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--hard", type=int, default=6, help="hard negatives per question")
    parser.add_argument("--test-fraction", type=float, default=0.1)
    args = parser.parse_args(argv)
    console = Console()
    torch.set_num_threads(1)

    records = load_records(args.data)
    random.Random(args.seed).shuffle(records)
    n_test = int(len(records) * args.test_fraction)
    splits = {"test": records[:n_test], "val": records[n_test : 2 * n_test], "train": records[2 * n_test :]}
    console.print({name: len(split) for name, split in splits.items()}, "edits per split")
    data = {}
    for name, split in splits.items():
        edit_vecs = encode([r["edit"] for r in split])
        question_vecs = encode([q for r in split for q in r["questions"]])
        data[name] = PairData(split, edit_vecs, question_vecs, args.hard)

    detector_head = train_detector(data["train"], args.epochs, args.seed, args.hidden)
    disambiguator_head = train_disambiguator(data["train"], args.epochs, args.seed, args.hidden)
    val_probs, val_labels = pair_probabilities(detector_head, data["val"], args.seed)
    threshold = best_threshold(val_probs, val_labels)
    test_probs, test_labels = pair_probabilities(detector_head, data["test"], args.seed)
    config = {
        "embedder": embedder_path().parent.name,
        "dim": int(data["train"].edit_vecs.shape[1]),
        "hidden": args.hidden,
        "features": "[e_q, e_edit, e_q*e_edit, |e_q-e_edit|]",
        "training": {
            "data": args.data.name,
            "seed": args.seed,
            "epochs": args.epochs,
            "hard_negatives": args.hard,
            "edits": {name: len(split) for name, split in splits.items()},
        },
    }
    detector = ScopeDetector(detector_head, disambiguator_head, threshold, config)
    metrics = {
        "threshold": threshold,
        "test_pairs": classification_metrics(test_probs, test_labels, threshold),
        "test_top5_pick": retrieval_accuracy(detector, data["test"]),
    }
    detector.config["heldout_metrics"] = metrics
    detector.save(args.out)

    table = Table(title=f"scope detector, held-out edits (threshold {threshold:.2f})")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for group, values in metrics.items():
        if isinstance(values, dict):
            for name, value in values.items():
                table.add_row(f"{group}.{name}", f"{value:.4f}")
    console.print(table)
    console.print(f"saved to {args.out}")


if __name__ == "__main__":
    main()

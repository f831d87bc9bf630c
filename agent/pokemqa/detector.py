"""PokeMQA's scope detector: does an edit apply to this subquestion, and which one does?

Two small heads over the frozen sentence embedder (the same MiniLM the memory uses), so the
shipped weights stay a few hundred KB: the pre-detector gives P(edit in scope of question) and
filters candidates by a threshold; the disambiguator ranks the candidates that pass and picks one.
Both read the pair features [e_q, e_edit, e_q*e_edit, |e_q-e_edit|], which let a small MLP compare
subject and relation, not only overall similarity.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from memory.embedder import embed

WEIGHTS_DIR = Path(__file__).parent / "weights"
WEIGHTS_FILE = "scope_detector.safetensors"
CONFIG_FILE = "scope_detector.json"


class PairScorer(nn.Module):
    """A logit for (question, edit) pairs of unit-norm embeddings."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4 * dim, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, questions: torch.Tensor, edits: torch.Tensor) -> torch.Tensor:
        features = torch.cat([questions, edits, questions * edits, (questions - edits).abs()], dim=-1)
        return self.net(features).squeeze(-1)


@dataclass
class ScopeDecision:
    """The chosen in-scope edit (index into the candidates) or None, with every candidate's scores."""

    chosen: int | None
    in_scope_prob: list[float]
    rank_score: list[float]


class ScopeDetector:
    def __init__(
        self, detector: PairScorer, disambiguator: PairScorer, threshold: float, config: dict
    ) -> None:
        self.detector = detector.eval()
        self.disambiguator = disambiguator.eval()
        self.threshold = threshold
        self.config = config

    @classmethod
    def load(cls, directory: Path | None = None) -> ScopeDetector:
        directory = directory or WEIGHTS_DIR
        config = json.loads((directory / CONFIG_FILE).read_text())
        tensors = load_file(str(directory / WEIGHTS_FILE))
        heads = {}
        for name in ("detector", "disambiguator"):
            head = PairScorer(config["dim"], config["hidden"])
            prefix = f"{name}."
            head.load_state_dict({k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)})
            heads[name] = head
        return cls(heads["detector"], heads["disambiguator"], float(config["threshold"]), config)

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        tensors = {f"detector.{k}": v.contiguous() for k, v in self.detector.state_dict().items()}
        tensors |= {f"disambiguator.{k}": v.contiguous() for k, v in self.disambiguator.state_dict().items()}
        save_file(tensors, str(directory / WEIGHTS_FILE))
        config = {**self.config, "threshold": self.threshold}
        (directory / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")

    @torch.inference_mode()
    def score_embeddings(self, question: np.ndarray, edits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(in-scope probabilities, disambiguator scores) of one question against n edits."""
        q = torch.from_numpy(np.repeat(question[None, :], len(edits), axis=0))
        e = torch.from_numpy(edits)
        probs = torch.sigmoid(self.detector(q, e)).numpy()
        ranks = self.disambiguator(q, e).numpy()
        return probs, ranks

    def decide(self, question: str, edit_sentences: list[str]) -> ScopeDecision:
        if not edit_sentences:
            return ScopeDecision(None, [], [])
        vectors = embed([question, *edit_sentences])
        probs, ranks = self.score_embeddings(vectors[0], vectors[1:])
        passing = [i for i, p in enumerate(probs) if p >= self.threshold]
        chosen = max(passing, key=lambda i: ranks[i]) if passing else None
        return ScopeDecision(chosen, [float(p) for p in probs], [float(r) for r in ranks])

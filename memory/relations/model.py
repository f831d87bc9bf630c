"""The relation scorer's head and its runtime wrapper.

A candidate relation is read twice: its label ("country of citizenship") and its phrase, the fact's
sentence without subject and object ("is a citizen of"). The head sees element-wise products of the
question with each, and of the path so far (mean of the previous relations' labels) with the question
and the candidate, the raw cosines, how close the candidate is to a relation already used, and the hop
position (or "unknown", for a fact found by dense search with no path). Products and cosines, not the
embeddings themselves, so what it learns is how a question phrases a relation, not which relations
the training files had: a relation no training question used is still found by its label and phrase.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from memory.embedder import embed
from memory.relations.config import RelationScorerConfig

WEIGHTS_DIR = Path(__file__).parent / "weights"
WEIGHTS_FILE = "relation_scorer.safetensors"
CONFIG_FILE = "relation_scorer.yaml"
UNKNOWN_HOP = -1


def relation_phrase(sentence: str, subject: str, obj: str, relation: str) -> str:
    """The sentence with its subject and object taken out: how the source phrases the relation."""
    text = sentence
    for name in (subject, obj):
        if name:
            text = re.sub(re.escape(name), " ", text, count=1, flags=re.IGNORECASE)
    text = " ".join(text.strip(" .;:,!?").split())
    return text if len(text) > 1 else relation


class RelationHead(nn.Module):
    """A logit for (question, candidate relation, path so far, hop position)."""

    def __init__(self, config: RelationScorerConfig) -> None:
        super().__init__()
        self.config = config
        n_features = 4 * config.embed_dim + 4 + config.max_hops + 1
        self.net = nn.Sequential(nn.Linear(n_features, config.hidden), nn.ReLU(), nn.Linear(config.hidden, 1))

    def hop_features(self, hops: torch.Tensor) -> torch.Tensor:
        """One-hot hop position; the last column is 'unknown' (UNKNOWN_HOP)."""
        n = self.config.max_hops
        index = torch.where(hops < 0, torch.full_like(hops, n), hops.clamp(max=n - 1))
        return nn.functional.one_hot(index, n + 1).float()

    def forward(
        self,
        question: torch.Tensor,
        label: torch.Tensor,
        phrase: torch.Tensor,
        path: torch.Tensor,
        repeat: torch.Tensor,
        hops: torch.Tensor,
    ) -> torch.Tensor:
        has_path = (path.abs().sum(dim=-1, keepdim=True) > 0).float()
        features = torch.cat(
            [
                question * label,
                question * phrase,
                question * path,
                label * path,
                (question * label).sum(dim=-1, keepdim=True),
                (question * phrase).sum(dim=-1, keepdim=True),
                repeat.unsqueeze(-1),
                has_path,
                self.hop_features(hops),
            ],
            dim=-1,
        )
        return self.net(features).squeeze(-1)


class RelationScorer:
    """Scores candidate relations for a question; relation texts are embedded once and cached."""

    def __init__(self, head: RelationHead, info: dict | None = None) -> None:
        self.head = head.eval()
        self.config = head.config
        self.info = info or {}
        self._vectors: dict[str, np.ndarray] = {}

    @classmethod
    def load(cls, directory: Path | None = None) -> RelationScorer:
        folder = Path(directory) if directory is not None else WEIGHTS_DIR
        weights = folder / WEIGHTS_FILE
        if not weights.is_file():
            raise FileNotFoundError(
                f"no relation scorer in {folder} (train one: python -m memory.relations.train)"
            )
        config = RelationScorerConfig.from_yaml(folder / CONFIG_FILE)
        head = RelationHead(config)
        head.load_state_dict(load_file(str(weights)))
        return cls(head)

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        save_file(
            {k: v.contiguous() for k, v in self.head.state_dict().items()}, str(directory / WEIGHTS_FILE)
        )
        self.config.to_yaml(directory / CONFIG_FILE)

    def vectors(self, texts: list[str], cache: bool = True) -> np.ndarray:
        """Embeddings of the texts. Relation labels and phrasings repeat across questions and are
        cached; `cache=False` is for one-off texts (path descriptions name a question's entities), which
        would otherwise grow the cache with every question a server answers."""
        if not cache:
            return embed(texts, batch_size=256)
        missing = [text for text in dict.fromkeys(texts) if text not in self._vectors]
        if missing:
            self._vectors.update(zip(missing, embed(missing, batch_size=256), strict=True))
        if not texts:
            return np.zeros((0, self.config.embed_dim), dtype=np.float32)
        return np.stack([self._vectors[text] for text in texts])

    def score(
        self,
        question_vector: np.ndarray,
        candidates: list[tuple[str, str]],
        path_labels: list[str],
        hop: int,
    ) -> np.ndarray:
        """Logits for (label, phrase) candidates after the path's relations; hop UNKNOWN_HOP when the
        candidate was found with no path (dense search)."""
        if not candidates:
            return np.zeros(0, dtype=np.float32)
        labels = self.vectors([label for label, _ in candidates])
        phrases = self.vectors([phrase for _, phrase in candidates])
        dim = self.config.embed_dim
        if path_labels:
            previous = self.vectors(path_labels)
            path = previous.mean(axis=0)
            repeat = (labels @ previous.T).max(axis=1)
        else:
            path = np.zeros(dim, dtype=np.float32)
            repeat = np.zeros(len(candidates), dtype=np.float32)
        n = len(candidates)
        with torch.inference_mode():
            logits = self.head(
                torch.from_numpy(np.repeat(question_vector[None, :], n, axis=0)),
                torch.from_numpy(labels),
                torch.from_numpy(phrases),
                torch.from_numpy(np.repeat(path[None, :].astype(np.float32), n, axis=0)),
                torch.from_numpy(repeat.astype(np.float32)),
                torch.full((n,), hop, dtype=torch.long),
            )
        return logits.numpy()

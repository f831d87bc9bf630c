"""The answer-type head: is this relation the one the question finally asks for?

With the hop count unknown, path search must decide where a path stops. Whole-path similarity and the
word fit see the relations a question names, but a question that paraphrases its last relation ("In
which city ..." for a capital, "Which continent ..." for a location) gives neither a reason to take
that last hop, so the path stops a hop short. This head reads what the question asks for, against a
candidate relation's label and phrase, and scores the relation as the question's last one; path search
adds its probability, weighted, to the fit of each path by its last relation.

It reads the question twice: whole, and its opening words alone ("Which company employs the", "In which
city is the"). English puts what is asked for first, and the whole question's mean-pooled embedding
weighs every relation it names alike, so "Which company employs the mayor of ..." reads as much like
"mayor" as like "employer"; the opening does not. Like the relation scorer, it sees element-wise products
and cosines of these with the relation's two readings, never the embeddings themselves, so a relation no
training question used is still read through its label and phrase. Trained on the training files only
(`python -m memory.relations.train --head answer-type`), shipped as safetensors beside the relation
scorer.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from memory.relations.config import RelationScorerConfig

ANSWER_TYPE_WEIGHTS = "answer_type.safetensors"
ANSWER_TYPE_CONFIG = "answer_type.yaml"


def opening(question: str, n_words: int) -> str:
    """The question's first words, where English says what is asked for."""
    return " ".join(question.split()[:n_words])


class AnswerTypeHead(nn.Module):
    """A logit for (question, its opening, candidate relation): the relation is what the answer is of."""

    def __init__(self, config: RelationScorerConfig) -> None:
        super().__init__()
        self.config = config
        n_features = 4 * config.embed_dim + 4
        self.net = nn.Sequential(nn.Linear(n_features, config.hidden), nn.ReLU(), nn.Linear(config.hidden, 1))

    def forward(
        self, question: torch.Tensor, start: torch.Tensor, label: torch.Tensor, phrase: torch.Tensor
    ) -> torch.Tensor:
        products = [question * label, question * phrase, start * label, start * phrase]
        features = torch.cat([*products, *(p.sum(dim=-1, keepdim=True) for p in products)], dim=-1)
        return self.net(features).squeeze(-1)


class AnswerTypeScorer:
    """Probabilities that candidate (label, phrase) relations are a question's last relation."""

    def __init__(self, head: AnswerTypeHead) -> None:
        self.head = head.eval()
        self.config = head.config

    @classmethod
    def load(cls, folder: Path) -> AnswerTypeScorer:
        weights = Path(folder) / ANSWER_TYPE_WEIGHTS
        if not weights.is_file():
            raise FileNotFoundError(
                f"no answer-type head in {folder} (train one: python -m memory.relations.train "
                "--head answer-type)"
            )
        head = AnswerTypeHead(RelationScorerConfig.from_yaml(Path(folder) / ANSWER_TYPE_CONFIG))
        head.load_state_dict(load_file(str(weights)))
        return cls(head)

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        save_file(
            {k: v.contiguous() for k, v in self.head.state_dict().items()}, str(folder / ANSWER_TYPE_WEIGHTS)
        )
        self.config.to_yaml(folder / ANSWER_TYPE_CONFIG)

    def opening(self, question: str) -> str:
        return opening(question, self.config.opening_words)

    def probabilities(
        self,
        question_vector: np.ndarray,
        opening_vector: np.ndarray,
        candidates: list[tuple[str, str]],
        vectors: Callable[[list[str]], np.ndarray],
    ) -> np.ndarray:
        """One probability per (label, phrase); `opening_vector` embeds `self.opening(question)`, and
        `vectors` embeds relation texts (the relation scorer's cache, shared by both heads)."""
        if not candidates:
            return np.zeros(0, dtype=np.float32)
        n = len(candidates)
        labels = vectors([label for label, _ in candidates])
        phrases = vectors([phrase for _, phrase in candidates])
        with torch.inference_mode():
            logits = self.head(
                torch.from_numpy(np.repeat(question_vector[None, :].astype(np.float32), n, axis=0)),
                torch.from_numpy(np.repeat(opening_vector[None, :].astype(np.float32), n, axis=0)),
                torch.from_numpy(labels),
                torch.from_numpy(phrases),
            )
        return torch.sigmoid(logits).numpy()

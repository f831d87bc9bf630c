"""Typed hyperparameters of the relation scorer, stored as YAML beside its weights."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path

import yaml


@dataclass
class RelationScorerConfig:
    embed_dim: int = 384
    hidden: int = 64
    max_hops: int = 5  # hop positions the scorer tells apart; later hops share the last position
    epochs: int = 8
    batch_size: int = 512
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    negatives: int = 6  # random vocabulary relations per positive example
    invented_name_copies: int = 1  # copies of each question with its subject renamed to an invented name
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> RelationScorerConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown relation scorer setting(s): {', '.join(unknown)}")
        return cls(**data)

    @classmethod
    def from_yaml(cls, path: Path) -> RelationScorerConfig:
        return cls.from_dict(yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {})

    def to_yaml(self, path: Path) -> None:
        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False), encoding="utf-8")

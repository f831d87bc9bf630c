"""Hyperparameters of the InstructEd soft-instruction prefixes (a typed dataclass, YAML round trip)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Literal

import yaml

# The paper puts prefixes in layers 10-20 of LLaMA's 32; we keep that band as fractions of depth.
PAPER_BAND = (10 / 32, 20 / 32)


@dataclass
class InstructEdConfig:
    n_prefix: int = 5
    layers: list[int] | None = None  # None: the paper's band scaled to the model's depth
    # "joint": prefix keys join the token keys in one softmax (official InstructEd code);
    # "zero_gate": LLaMA-Adapter's separately-normalised prefix attention behind a zero-initialised gate.
    prefix_attention: Literal["joint", "zero_gate"] = "joint"
    reweight: bool = True
    min_relevance: float = 0.05  # floor on the relevance score so log(relevance) stays finite
    init_std: float = 0.02
    base_model_id: str = ""
    base_weights_hash: str = ""

    def band(self, num_layers: int) -> list[int]:
        if self.layers is not None:
            bad = [i for i in self.layers if not 0 <= i < num_layers]
            if bad:
                raise ValueError(f"prefix layers {bad} outside the model's {num_layers} layers")
            return sorted(self.layers)
        start = round(PAPER_BAND[0] * num_layers)
        end = round(PAPER_BAND[1] * num_layers)
        return list(range(start, end + 1))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> InstructEdConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown InstructEd config keys: {sorted(unknown)}")
        return cls(**data)

    @classmethod
    def from_yaml(cls, path: Path) -> InstructEdConfig:
        return cls.from_dict(yaml.safe_load(Path(path).read_text()) or {})

    def save_yaml(self, path: Path) -> None:
        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))

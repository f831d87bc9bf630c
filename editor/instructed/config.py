"""Hyperparameters of the InstructEd soft-instruction prefixes (a typed dataclass, YAML round trip)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
import yaml

# The paper puts prefixes in layers 10-20 of LLaMA's 32; we keep that band as fractions of depth.
PAPER_BAND = (10 / 32, 20 / 32)


@dataclass
class InstructEdConfig:
    n_prefix: int = 5
    layers: list[int] | None = None  # None: the paper's band scaled to the model's depth
    reweight: bool = True
    # Relevance weight r from sim = cos(Enc(question), Enc(instruction)): a linear ramp from
    # r = 0 at sim <= relevance_floor up to r = 1 at sim >= relevance_full. MiniLM's cosine between an
    # edit and a question it must not change can be high, so the raw cosine as r would barely mute
    # anything. The thresholds are read off the training files only; `python -m
    # editor.train.relevance_stats` prints the similarity distributions they were chosen from.
    relevance_floor: float = 0.3
    relevance_full: float = 0.45
    # r is 0 unless the question names an entity of the instruction's facts (see
    # `editor.instructed.relevance`): the cosine alone lets same-relation questions about other
    # subjects read the edit.
    entity_gate: bool = True
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

    def relevance_weight(self, sim: torch.Tensor) -> torch.Tensor:
        ramp = (sim - self.relevance_floor) / (self.relevance_full - self.relevance_floor)
        return ramp.clamp(min=0.0, max=1.0)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> InstructEdConfig:
        data = dict(data)
        # Prefixes saved before the one attention variant was kept name it; only that one loads.
        if data.pop("prefix_attention", "joint") != "joint":
            raise ValueError("prefix_attention: only 'joint' prefix attention exists (zero_gate was removed)")
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

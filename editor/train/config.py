"""Training hyperparameters as a typed dataclass loaded from YAML (memit-style)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import yaml

from editor.instructed.config import InstructEdConfig

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "train.yaml"


@dataclass
class DataMix:
    """How many examples of each kind the builder draws (before the seeded shuffle)."""

    mquake_multihop: int = 330  # MQuAKE-hard: multi-hop questions with the full chain as facts
    mquake_singlehop: int = 260  # MQuAKE-hard: one hop's question with the whole chain as facts
    pokemqa: int = 260  # an edit (plus distractors) and one of its in-scope questions
    counterfact: int = 255  # Rel/Gen/Por inputs from the CounterFact portability train split
    zsre: int = 255  # Rel/Gen/Por inputs from the ZsRE portability train split
    locality: int = 100  # unrelated facts as instruction; the target is the base model's own answer
    # MQuAKE-hard multi-hop examples whose chain entities are all renamed to invented names (facts,
    # question and answer alike): the model must copy names it has never seen, as in a user's own graph.
    invented_multihop: int = 0
    max_distractors: int = 2
    shuffle_fact_order: float = 0.3  # share of multi-fact instructions given in shuffled order


@dataclass
class TrainConfig:
    steps: int = 250
    batch_size: int = 6
    learning_rate: float = 1e-2
    weight_decay: float = 0.0
    warmup_steps: int = 10
    max_length: int = 192
    seed: int = 0
    checkpoint_every: int = 20
    threads: int = 1
    task_instructions: bool = False  # InstructEdit: prepend a per-source task line to the instruction
    holdout_sources: list[str] = field(default_factory=list)  # e.g. ["zsre"] for the held-out study
    mix: DataMix = field(default_factory=DataMix)
    prefixes: InstructEdConfig = field(default_factory=InstructEdConfig)

    @classmethod
    def from_yaml(cls, path: Path = DEFAULT_CONFIG) -> TrainConfig:
        data = yaml.safe_load(Path(path).read_text()) or {}
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"{path}: unknown training config keys {sorted(unknown)}")
        mix = DataMix(**data.pop("mix", {}))
        prefixes = InstructEdConfig.from_dict(data.pop("prefixes", {}))
        return cls(mix=mix, prefixes=prefixes, **data)

    def to_dict(self) -> dict:
        return asdict(self)

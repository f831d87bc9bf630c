"""Attach InstructEd prefixes to a frozen causal LM (peft-style), save and load them as safetensors."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from transformers import PreTrainedModel

from editor.instructed.config import InstructEdConfig
from editor.instructed.layer import ATTENTION_NAME, PrefixState, register_instructed_attention

WEIGHTS_FILE = "prefixes.safetensors"
CONFIG_FILE = "config.yaml"
META_FILE = "meta.json"


class InstructEdModel(torch.nn.Module):
    """A frozen base model whose band of attention layers carries trainable soft-instruction prefixes.

    The base weights are never copied or modified: each band attention module gets a
    `PrefixState` child, and the model's attention implementation is switched to "instructed".
    """

    def __init__(self, base: PreTrainedModel, config: InstructEdConfig) -> None:
        super().__init__()
        register_instructed_attention()
        self.base = base
        self.config = config
        base.requires_grad_(False)
        text_config = base.config
        self.layer_ids = config.band(text_config.num_hidden_layers)
        self.states = torch.nn.ModuleDict()
        for layer_id in self.layer_ids:
            attention = base.model.layers[layer_id].self_attn
            state = PrefixState(config.n_prefix, text_config.hidden_size, init_std=config.init_std)
            attention.instructed = state
            self.states[str(layer_id)] = state
        base.set_attn_implementation(ATTENTION_NAME)

    def trainable_parameters(self) -> list[torch.nn.Parameter]:
        return [p for p in self.states.parameters() if p.requires_grad]

    def forward(self, **inputs):
        return self.base(**inputs)

    def state_tensors(self) -> dict[str, torch.Tensor]:
        return {name: tensor.detach().contiguous() for name, tensor in self.states.state_dict().items()}

    def save(self, directory: Path, meta: dict | None = None) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        save_file(self.state_tensors(), str(directory / WEIGHTS_FILE))
        self.config.save_yaml(directory / CONFIG_FILE)
        (directory / META_FILE).write_text(json.dumps(meta or {}, indent=2, sort_keys=True))

    def load_tensors(self, directory: Path) -> None:
        tensors = load_file(str(Path(directory) / WEIGHTS_FILE))
        missing, unexpected = self.states.load_state_dict(tensors, strict=False)
        if missing or unexpected:
            raise ValueError(f"prefix file {directory}: missing {missing}, unexpected {unexpected}")

    @classmethod
    def from_pretrained(cls, base: PreTrainedModel, directory: Path, weights_hash: str) -> InstructEdModel:
        directory = Path(directory)
        config = InstructEdConfig.from_yaml(directory / CONFIG_FILE)
        if config.base_weights_hash and config.base_weights_hash != weights_hash:
            raise ValueError(
                f"prefixes in {directory} were trained on base weights {config.base_weights_hash}, "
                f"but the loaded model is {weights_hash}"
            )
        model = cls(base, config)
        model.load_tensors(directory)
        return model

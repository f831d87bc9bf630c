"""A tiny random llama model with the real SmolLM2 tokenizer, so editor tests run in seconds."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from editor.loading import LoadedModel, load_base_model


def tiny_llama_dir(directory: Path) -> Path:
    """Save a 4-layer llama (GQA, like SmolLM2) beside the real tokenizer as an HF model directory."""
    tokenizer = load_base_model().tokenizer
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def tiny_loaded(directory: Path) -> LoadedModel:
    return load_base_model(str(directory))

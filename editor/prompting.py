"""The InstructEd input: `Instructions: {facts}\nInput: {question}` inside the model's chat template.

The character span of the instruction (the facts with their label) is mapped to token positions,
because the attention re-weights exactly those tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from transformers import PreTrainedTokenizerBase

SYSTEM_PROMPT = "Answer the input with a short phrase."


@dataclass
class EncodedBatch:
    input_ids: torch.Tensor  # (B, T), left-padded
    attention_mask: torch.Tensor  # (B, T)
    instruction_mask: torch.Tensor  # (B, T) bool: token lies in the instruction (the facts)
    prompts: list[str]
    target_mask: torch.Tensor | None = None  # (B, T) bool: token belongs to the target, when given


def user_message(facts: Sequence[str], question: str) -> str:
    if not facts:
        return f"Input: {question}"
    return f"Instructions: {' '.join(facts)}\nInput: {question}"


def render_prompt(
    tokenizer: PreTrainedTokenizerBase, facts: Sequence[str], question: str
) -> tuple[str, tuple[int, int]]:
    """The templated prompt and the character span of the instruction inside it: the facts with their
    "Instructions: " label and line break, so that muting the span leaves the question reading what
    it reads when there is no instruction at all."""
    messages = [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": user_message(facts, question)},
    ]
    prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    if not facts:
        return prompt, (0, 0)
    start = prompt.index("Instructions: ")
    return prompt, (start, prompt.index("Input: ", start))


def encode(
    tokenizer: PreTrainedTokenizerBase,
    questions: Sequence[str],
    facts: Sequence[Sequence[str]],
    targets: Sequence[str] | None = None,
) -> EncodedBatch:
    """Left-padded batch; with targets, each row is prompt + target (for teacher forcing)."""
    prompts, spans = zip(
        *(render_prompt(tokenizer, f, q) for q, f in zip(questions, facts, strict=True)), strict=True
    )
    texts = list(prompts) if targets is None else [p + t for p, t in zip(prompts, targets, strict=True)]
    encoded = tokenizer(
        texts, return_tensors="pt", padding=True, add_special_tokens=False, return_offsets_mapping=True
    )
    offsets = encoded.pop("offset_mapping")
    starts, ends = offsets[..., 0], offsets[..., 1]
    span = torch.tensor(spans)
    real = encoded["attention_mask"].bool()
    instruction_mask = (starts < span[:, 1:2]) & (ends > span[:, 0:1]) & real
    target_mask = None
    if targets is not None:
        prompt_ends = torch.tensor([len(p) for p in prompts])[:, None]
        target_mask = (ends > prompt_ends) & real
    return EncodedBatch(
        encoded["input_ids"], encoded["attention_mask"], instruction_mask, list(prompts), target_mask
    )

"""Answer questions from instruction facts with the prefix-edited model (the InstructEd editor)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from transformers import DynamicCache

from editor.instructed.model import InstructEdModel
from editor.llm import Generation, LocalLLM
from editor.loading import load_base_model
from editor.prompting import EncodedBatch, encode
from memory.embedder import embed

SHIPPED_PREFIXES = Path(__file__).resolve().parent.parent / "weights" / "instructed"


def relevance_scores(questions: Sequence[str], facts: Sequence[Sequence[str]]) -> torch.Tensor:
    """cos(Enc(question), Enc(instruction)) per example; 1.0 where there is no instruction."""
    instructions = [" ".join(f) for f in facts]
    with_text = [i for i, text in enumerate(instructions) if text]
    scores = torch.ones(len(questions))
    if with_text:
        q = embed([questions[i] for i in with_text])
        f = embed([instructions[i] for i in with_text])
        scores[with_text] = torch.from_numpy((q * f).sum(axis=1)).float()
    return scores


class InstructEdEditor:
    """The frozen base model plus trained prefixes; `llm` is the same model, unedited."""

    def __init__(self, model: InstructEdModel, llm: LocalLLM, max_batch_size: int = 16) -> None:
        self.model = model
        self.llm = llm
        self.max_batch_size = max_batch_size

    @classmethod
    def load(cls, model_spec: str | None = None, prefixes: Path | None = None) -> InstructEdEditor:
        loaded = load_base_model(model_spec)
        directory = Path(prefixes) if prefixes is not None else SHIPPED_PREFIXES
        if not (directory / "prefixes.safetensors").is_file():
            raise FileNotFoundError(f"no trained prefixes in {directory} (run `hopedit train`)")
        model = InstructEdModel.from_pretrained(loaded.model, directory, loaded.weights_hash)
        return cls(model, LocalLLM(loaded))

    @property
    def tokenizer(self):
        return self.llm.tokenizer

    def _inputs(
        self, batch: EncodedBatch, relevance: torch.Tensor, use_prefixes: bool, reweight: bool
    ) -> dict:
        inputs = {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask}
        if use_prefixes:
            inputs.update(use_prefixes=True, instruction_mask=batch.instruction_mask)
            if reweight:
                inputs["relevance"] = relevance
        return inputs

    def answer(
        self,
        questions: Sequence[str],
        facts: Sequence[Sequence[str]],
        use_prefixes: bool = True,
        reweight: bool = True,
        max_new_tokens: int = 24,
    ) -> list[Generation]:
        """Greedy short answers; without prefixes this is the base model on the same prompt."""
        results: list[Generation] = []
        for start in range(0, len(questions), self.max_batch_size):
            chunk = slice(start, start + self.max_batch_size)
            results.extend(
                self._answer_batch(questions[chunk], facts[chunk], use_prefixes, reweight, max_new_tokens)
            )
        return results

    def _answer_batch(self, questions, facts, use_prefixes, reweight, max_new_tokens) -> list[Generation]:
        relevance = relevance_scores(questions, facts)
        with self.llm.lock, torch.inference_mode():  # the tokenizer's padding state is shared too
            batch = encode(self.tokenizer, questions, facts)
            self.llm.calls += 1
            new_tokens = self._greedy(
                batch, self._inputs(batch, relevance, use_prefixes, reweight), max_new_tokens
            )
        return self.llm.decode(new_tokens, batch.attention_mask, stop=[])

    def _greedy(self, batch: EncodedBatch, inputs: dict, max_new_tokens: int) -> torch.Tensor:
        """Greedy decoding with a KV cache; `generate()` would reject the instruction kwargs."""
        eos, pad = self.tokenizer.eos_token_id, self.tokenizer.pad_token_id
        extra = {k: v for k, v in inputs.items() if k not in ("input_ids", "attention_mask")}
        attention_mask = batch.attention_mask
        positions = (attention_mask.cumsum(-1) - 1).clamp(min=0)
        cache = DynamicCache(config=self.model.base.config)
        step_ids = batch.input_ids
        done = torch.zeros(len(step_ids), dtype=torch.bool)
        generated = []
        for _ in range(max_new_tokens):
            logits = self.model.base(
                input_ids=step_ids,
                attention_mask=attention_mask,
                position_ids=positions,
                past_key_values=cache,
                use_cache=True,
                **extra,
            ).logits[:, -1]
            next_ids = torch.where(done, pad, logits.argmax(-1))
            generated.append(next_ids)
            done |= next_ids == eos
            if done.all():
                break
            step_ids = next_ids[:, None]
            attention_mask = torch.cat([attention_mask, torch.ones_like(step_ids)], dim=1)
            positions = positions[:, -1:] + 1
        return torch.stack(generated, dim=1)

    def token_accuracy(
        self,
        questions: Sequence[str],
        facts: Sequence[Sequence[str]],
        targets: Sequence[str],
        use_prefixes: bool = True,
        reweight: bool = True,
    ) -> list[float]:
        """EasyEdit's teacher-forced metric: share of target tokens that are the argmax prediction."""
        scores: list[float] = []
        for start in range(0, len(questions), self.max_batch_size):
            chunk = slice(start, start + self.max_batch_size)
            scores.extend(
                self._token_accuracy_batch(
                    questions[chunk], facts[chunk], targets[chunk], use_prefixes, reweight
                )
            )
        return scores

    def _token_accuracy_batch(self, questions, facts, targets, use_prefixes, reweight) -> list[float]:
        relevance = relevance_scores(questions, facts)
        with self.llm.lock, torch.inference_mode():
            batch = encode(self.tokenizer, questions, facts, [t.strip() for t in targets])
            logits = self.model.base(**self._inputs(batch, relevance, use_prefixes, reweight)).logits
        hits = logits[:, :-1].argmax(-1) == batch.input_ids[:, 1:]
        scored = batch.target_mask[:, 1:]
        return ((hits & scored).sum(1) / scored.sum(1).clamp(min=1)).tolist()

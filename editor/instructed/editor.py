"""Answer questions from instruction facts with the prefix-edited model (the InstructEd editor)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from transformers import DynamicCache

from editor.decoding import TokenHook, decode, offset_rows, stop_checker
from editor.instructed.model import InstructEdModel
from editor.instructed.relevance import relevance_weights
from editor.llm import Generation, LocalLLM
from editor.prompting import EncodedBatch, encode

SHIPPED_PREFIXES = Path(__file__).resolve().parent.parent / "weights" / "instructed"


def token_positions(
    attention_mask: torch.Tensor, instruction_mask: torch.Tensor, relevance: torch.Tensor | None
) -> torch.Tensor:
    """Rotary positions in which the instruction takes up r of its length: a token after it sits
    (1 - r) * (instruction length) places earlier than its index. With r = 0 the question then has
    exactly the positions of the prompt without instruction, so a fully muted instruction leaves the
    base model's answer unchanged (rotary attention is relative, so otherwise the question would still
    feel the distance to the system prompt grow). Positions are fractional in between."""
    positions = (attention_mask.cumsum(-1) - 1).clamp(min=0)
    if relevance is None:
        return positions
    skipped = instruction_mask.long().cumsum(-1) * ~instruction_mask
    return positions - (1 - relevance.view(-1, 1)) * skipped


def instructed_inputs(
    batch: EncodedBatch, relevance: torch.Tensor | None, use_prefixes: bool = True
) -> dict[str, torch.Tensor | bool]:
    """Forward kwargs for the prefix-edited model: with `relevance`, re-weighting and its positions;
    without `use_prefixes`, the plain base model's inputs."""
    inputs: dict = {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask}
    if not use_prefixes:
        return inputs | {"position_ids": token_positions(batch.attention_mask, batch.instruction_mask, None)}
    inputs.update(use_prefixes=True, instruction_mask=batch.instruction_mask)
    inputs["position_ids"] = token_positions(batch.attention_mask, batch.instruction_mask, relevance)
    if relevance is not None:
        inputs["relevance"] = relevance
    return inputs


def _chunk(entities: Sequence[Sequence[str]] | None, chunk: slice) -> Sequence[Sequence[str]] | None:
    return None if entities is None else entities[chunk]


class InstructEdEditor:
    """The frozen base model plus trained prefixes; `llm` is the same model, unedited."""

    def __init__(self, model: InstructEdModel, llm: LocalLLM, max_batch_size: int = 16) -> None:
        self.model = model
        self.llm = llm
        self.max_batch_size = max_batch_size

    @classmethod
    def load(cls, model_spec: str | None = None, prefixes: Path | None = None) -> InstructEdEditor:
        return cls.from_llm(LocalLLM.load(model_spec), prefixes)

    @classmethod
    def from_llm(cls, llm: LocalLLM, prefixes: Path | None = None) -> InstructEdEditor:
        """Prefixes on `llm`'s own weights: calls without `use_prefixes` stay the base model bit for
        bit, so plain generation and the editor share one copy and one lock."""
        directory = Path(prefixes) if prefixes is not None else SHIPPED_PREFIXES
        if not (directory / "prefixes.safetensors").is_file():
            raise FileNotFoundError(f"no trained prefixes in {directory} (run `hopedit train`)")
        loaded = llm.loaded
        model = InstructEdModel.from_pretrained(loaded.model, directory, loaded.weights_hash)
        return cls(model, llm)

    @property
    def tokenizer(self):
        return self.llm.tokenizer

    def _relevance(
        self, questions, facts, entities, use_prefixes: bool, reweight: bool
    ) -> torch.Tensor | None:
        """Embed question and instruction only when the weights are used (prefixes with re-weighting)."""
        if not (use_prefixes and reweight):
            return None
        return relevance_weights(questions, facts, self.model.config, entities)

    def answer(
        self,
        questions: Sequence[str],
        facts: Sequence[Sequence[str]],
        entities: Sequence[Sequence[str]] | None = None,
        use_prefixes: bool = True,
        reweight: bool = True,
        max_new_tokens: int = 24,
        stop: Sequence[str] = (),
        temperature: float = 0.0,
        on_token: TokenHook | None = None,
    ) -> list[Generation]:
        """Short answers (greedy unless `temperature` > 0); without prefixes this is the base model on
        the same prompt. `entities[i]`: the subjects and objects of facts[i], for the relevance weight's
        entity test. `stop` and `on_token` as for `LocalLLM.generate_text`."""
        results: list[Generation] = []
        for start in range(0, len(questions), self.max_batch_size):
            chunk = slice(start, start + self.max_batch_size)
            results.extend(
                self._answer_batch(
                    questions[chunk],
                    facts[chunk],
                    _chunk(entities, chunk),
                    use_prefixes,
                    reweight,
                    max_new_tokens,
                    list(stop),
                    temperature,
                    offset_rows(on_token, start),
                )
            )
        return results

    def _answer_batch(
        self,
        questions,
        facts,
        entities,
        use_prefixes,
        reweight,
        max_new_tokens,
        stop: list[str],
        temperature: float,
        on_token: TokenHook | None,
    ) -> list[Generation]:
        relevance = self._relevance(questions, facts, entities, use_prefixes, reweight)
        with self.llm.lock, torch.inference_mode():  # the tokenizer's padding state is shared too
            batch = encode(self.tokenizer, questions, facts)
            self.llm.calls += 1
            inputs = instructed_inputs(batch, relevance, use_prefixes)
            real = batch.attention_mask.bool()
            prompt_rows = [ids[mask].tolist() for ids, mask in zip(batch.input_ids, real, strict=True)]
            # generate() would reject the instruction kwargs; the shared loop passes them per row.
            generated = decode(
                self.model.base,
                inputs.pop("input_ids"),
                inputs.pop("attention_mask"),
                inputs.pop("position_ids"),
                cache=DynamicCache(config=self.model.base.config),
                max_new_tokens=max_new_tokens,
                eos_token_id=self.tokenizer.eos_token_id,
                finished=stop_checker(self.tokenizer, stop),
                temperature=temperature,
                row_inputs=inputs,
                on_token=on_token,
                lookup=self.llm.lookup,
                token_key=self.llm.token_key,
                contexts=prompt_rows,
            )
        return self.llm.to_generations(generated, batch.attention_mask.sum(-1).tolist(), stop=stop)

    def target_predictions(
        self,
        questions: Sequence[str],
        facts: Sequence[Sequence[str]],
        targets: Sequence[str],
        entities: Sequence[Sequence[str]] | None = None,
        use_prefixes: bool = True,
        reweight: bool = True,
    ) -> list[tuple[list[int], list[int]]]:
        """Teacher-forced (argmax prediction, gold token) ids over each target, for EasyEdit's token
        metrics: accuracy against the gold tokens, or agreement with another model's predictions."""
        results: list[tuple[list[int], list[int]]] = []
        for start in range(0, len(questions), self.max_batch_size):
            chunk = slice(start, start + self.max_batch_size)
            results.extend(
                self._target_predictions_batch(
                    questions[chunk],
                    facts[chunk],
                    targets[chunk],
                    _chunk(entities, chunk),
                    use_prefixes,
                    reweight,
                )
            )
        return results

    def _target_predictions_batch(self, questions, facts, targets, entities, use_prefixes, reweight):
        relevance = self._relevance(questions, facts, entities, use_prefixes, reweight)
        with self.llm.lock, torch.inference_mode():
            batch = encode(self.tokenizer, questions, facts, [t.strip() for t in targets])
            logits = self.model.base(**instructed_inputs(batch, relevance, use_prefixes)).logits
        predicted = logits[:, :-1].argmax(-1)
        gold = batch.input_ids[:, 1:]
        scored = batch.target_mask[:, 1:]
        return [(predicted[i][scored[i]].tolist(), gold[i][scored[i]].tolist()) for i in range(len(gold))]

"""Train the InstructEd prefixes: frozen base, AdamW on prefixes only, resumable, seeded."""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from safetensors.torch import load_file, save_file

from editor.instructed import InstructEdEditor, InstructEdModel
from editor.instructed.editor import instructed_inputs
from editor.instructed.relevance import relevance_weights
from editor.llm import LocalLLM
from editor.loading import load_base_model
from editor.prompting import encode
from editor.train.config import TrainConfig
from editor.train.data import DataBuilder, TrainExample, file_hashes, fill_base_targets

BASE_ANSWER_TOKENS = 16


@dataclass
class TrainResult:
    out_dir: Path
    steps: int
    first_loss: float
    last_loss: float
    seconds: float


def _lr_factor(step: int, config: TrainConfig) -> float:
    if step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def short_base_answer(text: str) -> str:
    """The unedited model's answer as a training target: its first line."""
    return text.strip().split("\n", 1)[0].strip()


def target_loss(
    model: InstructEdModel, tokenizer, examples: list[TrainExample], reweight: bool
) -> torch.Tensor:
    """Mean cross-entropy over the target tokens (answer + end-of-turn) only."""
    questions = [e.question for e in examples]
    facts = [e.facts for e in examples]
    targets = [f"{e.target}{tokenizer.eos_token}" for e in examples]
    batch = encode(tokenizer, questions, facts, targets)
    entities = [e.entities for e in examples]
    relevance = relevance_weights(questions, facts, model.config, entities) if reweight else None
    inputs = instructed_inputs(batch, relevance)
    # Only target positions need the 49k-way vocabulary projection: skip it everywhere else.
    hidden = model.base.model(**inputs).last_hidden_state[:, :-1]
    scored = batch.target_mask[:, 1:]
    logits = model.base.lm_head(hidden[scored])
    return torch.nn.functional.cross_entropy(logits, batch.input_ids[:, 1:][scored])


class Trainer:
    def __init__(self, config: TrainConfig, out_dir: Path, data_dir: Path, model_spec: str | None = None):
        self.config = config
        self.out_dir = Path(out_dir)
        self.data_dir = Path(data_dir)
        self.model_spec = model_spec

    def _examples(self, editor: InstructEdEditor) -> list[TrainExample]:
        config = self.config
        builder = DataBuilder(
            self.data_dir, config.mix, config.seed, config.task_instructions, config.holdout_sources
        )
        examples = builder.build()

        def base_answer(questions: list[str]) -> list[str]:
            generations = editor.answer(
                questions, [[]] * len(questions), use_prefixes=False, max_new_tokens=BASE_ANSWER_TOKENS
            )
            return [short_base_answer(g.text) for g in generations]

        fill_base_targets(examples, base_answer, self.out_dir / "base_answers.json")
        tokenizer = editor.tokenizer
        kept = []
        for example in examples:
            prompt = encode(tokenizer, [example.question], [example.facts]).input_ids.shape[1]
            if example.target and prompt + 24 <= config.max_length:
                kept.append(example)
        with (self.out_dir / "train_data.jsonl").open("w") as handle:
            for example in kept:
                handle.write(json.dumps(example.to_dict()) + "\n")
        return kept

    def _save_checkpoint(
        self, model: InstructEdModel, optimizer: torch.optim.Optimizer, step: int, log: list
    ) -> None:
        directory = self.out_dir / "checkpoint"
        tmp = self.out_dir / "checkpoint.tmp"
        model.save(tmp, meta={"step": step})
        tensors, counts = {}, {}
        for index, param in enumerate(model.trainable_parameters()):
            state = optimizer.state.get(param, {})
            for key in ("exp_avg", "exp_avg_sq"):
                if key in state:
                    tensors[f"{index}.{key}"] = state[key].contiguous()
            if "step" in state:
                counts[str(index)] = float(state["step"])
        save_file(tensors, str(tmp / "optimizer.safetensors"))
        (tmp / "trainer_state.json").write_text(json.dumps({"step": step, "adam_steps": counts, "log": log}))
        if directory.exists():
            directory.replace(self.out_dir / "checkpoint.old")
        tmp.replace(directory)
        old = self.out_dir / "checkpoint.old"
        if old.exists():
            for child in old.iterdir():
                child.unlink()
            old.rmdir()

    def _resume(self, model: InstructEdModel, optimizer: torch.optim.Optimizer) -> tuple[int, list]:
        directory = self.out_dir / "checkpoint"
        if not (directory / "trainer_state.json").is_file():
            return 0, []
        model.load_tensors(directory)
        state = json.loads((directory / "trainer_state.json").read_text())
        tensors = load_file(str(directory / "optimizer.safetensors"))
        for index, param in enumerate(model.trainable_parameters()):
            if str(index) in state["adam_steps"]:
                optimizer.state[param] = {
                    "step": torch.tensor(state["adam_steps"][str(index)]),
                    "exp_avg": tensors[f"{index}.exp_avg"],
                    "exp_avg_sq": tensors[f"{index}.exp_avg_sq"],
                }
        return state["step"], state["log"]

    def run(self) -> TrainResult:
        config = self.config
        torch.set_num_threads(config.threads)
        torch.manual_seed(config.seed)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        (self.out_dir / "config.json").write_text(json.dumps(config.to_dict(), indent=2))
        loaded = load_base_model(self.model_spec)
        config.prefixes.base_model_id = loaded.model_id
        config.prefixes.base_weights_hash = loaded.weights_hash
        model = InstructEdModel(loaded.model, config.prefixes)
        editor = InstructEdEditor(model, LocalLLM(loaded))
        examples = self._examples(editor)
        optimizer = torch.optim.AdamW(
            model.trainable_parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
        )
        start_step, log = self._resume(model, optimizer)
        order = bucketed_order(examples, config.batch_size, config.seed)
        started = time.time()
        columns = (
            TextColumn("train"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} loss {task.fields[loss]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns) as progress:
            task = progress.add_task("train", total=config.steps, completed=start_step, loss="-")
            for step in range(start_step, config.steps):
                batch = [examples[i] for i in order[step % len(order)]]
                for group in optimizer.param_groups:
                    group["lr"] = config.learning_rate * _lr_factor(step, config)
                loss = target_loss(model, editor.tokenizer, batch, config.prefixes.reweight)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                log.append({"step": step + 1, "loss": loss.item(), "lr": optimizer.param_groups[0]["lr"]})
                progress.update(task, advance=1, loss=f"{loss.item():.3f}")
                if (step + 1) % config.checkpoint_every == 0 or step + 1 == config.steps:
                    self._save_checkpoint(model, optimizer, step + 1, log)
        meta = {
            "steps": config.steps,
            "examples": len(examples),
            "train_files": file_hashes(self.data_dir, list(DataBuilder.sources_for(config.holdout_sources))),
            "seconds": time.time() - started,
            "final_loss": log[-1]["loss"] if log else None,
        }
        model.save(self.out_dir / "prefixes", meta=meta)
        plot_loss(log, self.out_dir / "loss.png")
        first = sum(e["loss"] for e in log[:10]) / max(1, len(log[:10]))
        last = sum(e["loss"] for e in log[-10:]) / max(1, len(log[-10:]))
        return TrainResult(self.out_dir, len(log), first, last, time.time() - started)


def bucketed_order(examples: list[TrainExample], batch_size: int, seed: int) -> list[list[int]]:
    """Batches of similar length (less padding), in a seeded random order."""
    rng = random.Random(seed)
    indices = list(range(len(examples)))
    rng.shuffle(indices)
    window = batch_size * 16
    batches = []
    for start in range(0, len(indices), window):
        chunk = sorted(
            indices[start : start + window],
            key=lambda i: len(" ".join(examples[i].facts)) + len(examples[i].question),
        )
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk) - batch_size + 1, batch_size)]
    rng.shuffle(batches)
    return batches


def plot_loss(log: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [e["step"] for e in log]
    losses = [e["loss"] for e in log]
    window = 20
    smooth = [
        sum(losses[max(0, i - window + 1) : i + 1]) / len(losses[max(0, i - window + 1) : i + 1])
        for i in range(len(losses))
    ]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(steps, losses, alpha=0.3, label="loss")
    ax.plot(steps, smooth, label=f"mean of last {window}")
    ax.set_xlabel("step")
    ax.set_ylabel("target cross-entropy")
    ax.set_title("InstructEd prefix training")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)

"""`hopedit train`: train the InstructEd prefixes."""

from __future__ import annotations

import shutil
from pathlib import Path

import typer


def train(
    data_dir: Path = typer.Option(
        Path("../shared/data"), help="Folder with the training files (see README)."
    ),
    out: Path = typer.Option(Path("runs/train"), help="Run folder: checkpoints, data, loss curve, prefixes."),
    config: Path | None = typer.Option(
        None, help="Training config YAML (default: editor/configs/train.yaml)."
    ),
    model: str | None = typer.Option(None, help="Base model: HF directory or GGUF path (default: bundled)."),
    steps: int | None = typer.Option(None, help="Override the number of steps."),
    holdout: list[str] | None = typer.Option(
        None, help="Leave this training source out (mquake, pokemqa, counterfact, zsre). Repeatable."
    ),
    task_instructions: bool | None = typer.Option(
        None,
        "--task-instructions/--no-task-instructions",
        help="InstructEdit: prepend a per-source task line to the facts (default: as the config says).",
    ),
    smoke: bool = typer.Option(False, help="A few steps on a small mix, for tests."),
    ship: bool = typer.Option(False, help="Copy the trained prefixes to the package's shipped weights."),
) -> None:
    """Train soft-instruction prefixes on the frozen base model (resumes from OUT/checkpoint)."""
    from editor.instructed import SHIPPED_PREFIXES
    from editor.train.config import DEFAULT_CONFIG, DataMix, TrainConfig
    from editor.train.data import TRAIN_FILES, DataBuilder
    from editor.train.trainer import Trainer

    missing = [name for name in TRAIN_FILES.values() if not (data_dir / name).is_file()]
    if missing:
        typer.echo(f"error: {data_dir} lacks training files: {', '.join(missing)}", err=True)
        raise typer.Exit(2)
    try:
        train_config = TrainConfig.from_yaml(config or DEFAULT_CONFIG)
    except (ValueError, TypeError, OSError) as error:
        typer.echo(f"error: {config or DEFAULT_CONFIG}: {error}", err=True)
        raise typer.Exit(2) from error
    if smoke:
        train_config.steps, train_config.batch_size, train_config.checkpoint_every = 8, 4, 4
        train_config.warmup_steps, train_config.learning_rate = 1, 2e-2
        train_config.mix = DataMix(
            mquake_multihop=8,
            mquake_singlehop=4,
            pokemqa=4,
            counterfact=4,
            zsre=4,
            locality=4,
        )
    if steps is not None:
        train_config.steps = steps
    if holdout:
        try:
            DataBuilder.sources_for(holdout)
        except ValueError as error:
            typer.echo(f"error: --holdout: {error}", err=True)
            raise typer.Exit(2) from error
        train_config.holdout_sources = list(holdout)
    if task_instructions is not None:
        train_config.task_instructions = task_instructions
    result = Trainer(train_config, out, data_dir, model).run()
    typer.echo(
        f"trained {result.steps} steps in {result.seconds:.0f}s: loss {result.first_loss:.3f} -> "
        f"{result.last_loss:.3f}; prefixes in {result.out_dir / 'prefixes'}"
    )
    if ship:
        SHIPPED_PREFIXES.mkdir(parents=True, exist_ok=True)
        for item in (result.out_dir / "prefixes").iterdir():
            shutil.copy2(item, SHIPPED_PREFIXES / item.name)
        typer.echo(f"shipped to {SHIPPED_PREFIXES}")


def register(app: typer.Typer) -> None:
    app.command("train")(train)

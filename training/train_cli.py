"""``civility train`` and ``civility export``.

Heavy libraries (torch, transformers, datasets) are imported inside the commands.
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

DEFAULT_CONFIG = Path("configs/train/default.yaml")
DEFAULT_OUTPUT_ROOT = Path("models")
DEFAULT_RUNS_DIR = Path("runs")


class BundleFormatOption(StrEnum):
    lora = "lora"
    onnx = "onnx"


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code=1)


def train_command(
    config: Annotated[Path, typer.Option(help="training recipe (YAML); names resolve inside configs/")] = (
        DEFAULT_CONFIG
    ),
    data: Annotated[
        Path, typer.Option(help="corpus written by `civility build-data` (a DatasetDict)")
    ] = Path("data/corpus"),
    output_root: Annotated[Path, typer.Option(help="bundles go to OUTPUT_ROOT/<name>/<version>/")] = (
        DEFAULT_OUTPUT_ROOT
    ),
    runs_dir: Annotated[Path, typer.Option(help="checkpoints go to RUNS_DIR/<run-name>/")] = DEFAULT_RUNS_DIR,
    run_name: Annotated[str | None, typer.Option(help="default: <bundle name>-<version>")] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="continue the run from its last checkpoint")
    ] = False,
    extra_labels: Annotated[
        list[Path] | None,
        typer.Option(
            "--extra-labels", help="hand/moderator label JSONL appended to the train split (repeatable)"
        ),
    ] = None,
    hold_out: Annotated[
        list[str] | None,
        typer.Option(
            "--hold-out",
            help="corpus to leave out of training, early stopping and calibration, to measure how the model "
            "does on a site it never saw (repeatable)",
        ),
    ] = None,
    max_minutes: Annotated[
        float | None, typer.Option(help="time budget for the training loop (overrides the recipe)")
    ] = None,
    stop_after_steps: Annotated[
        int | None, typer.Option(help="pause after this many steps (checkpoint kept; continue with --resume)")
    ] = None,
    fmt: Annotated[
        BundleFormatOption | None, typer.Option("--format", help="bundle format (default: the recipe's)")
    ] = None,
    name: Annotated[str | None, typer.Option(help="bundle name (default: the recipe's)")] = None,
    version: Annotated[str | None, typer.Option(help="bundle version (default: the recipe's)")] = None,
    progress: Annotated[bool, typer.Option(help="show progress bars")] = True,
) -> None:
    """Fine-tune, calibrate and export a model bundle (LoRA over the packaged MiniLM encoder)."""
    from pydantic import ValidationError

    from civility.model.bundle import BundleError
    from civility.model.labels import label_ids
    from civility.training.export import ExportError
    from civility.training.train import RunError
    from civility.training.train_config import TrainConfigError, load_train_config
    from civility.training.trainer_data import TrainingDataError, load_corpus

    try:
        recipe = load_train_config(config)
        updates: dict[str, object] = {}
        if max_minutes is not None:
            updates["optim"] = recipe.optim.model_copy(update={"max_minutes": max_minutes})
        if name or version:
            bundle = recipe.bundle.model_dump() | {
                k: v for k, v in {"name": name, "version": version}.items() if v
            }
            updates["bundle"] = type(recipe.bundle).model_validate(bundle)
        recipe = recipe.model_copy(update=updates)
        extras = list(extra_labels or [])
        for path in extras:
            if not path.is_file():
                raise TrainingDataError(f"--extra-labels file {path} not found")
        final = output_root / recipe.bundle.name / recipe.bundle.version
        if final.exists():
            raise ExportError(
                f"bundle {recipe.bundle.name}@{recipe.bundle.version} already exists at {final}; "
                "pass --version to write a new one"
            )
        corpus = load_corpus(data, label_ids())
        run_dir = runs_dir / (run_name or f"{recipe.bundle.name}-{recipe.bundle.version}")

        from civility.training.pipeline import run_pipeline

        result = run_pipeline(
            recipe,
            corpus,
            run_dir,
            output_root,
            data_dir=data,
            extra_labels=extras,
            hold_out=list(hold_out or []),
            resume=resume,
            stop_after_steps=stop_after_steps,
            fmt=fmt.value if fmt else None,
            progress=progress,
        )
    except (TrainConfigError, TrainingDataError, RunError, ExportError, BundleError, ValidationError) as exc:
        raise _fail(str(exc)) from None
    t = result.train
    typer.echo(
        f"trained {t.final_step} steps ({t.examples_seen:,} examples, {t.elapsed_s / 60:.1f} min); "
        f"stopped: {t.stop_reason}; best step {t.best_step}, validation mean AUC {t.best_auc}"
    )
    if result.bundle_dir is None:
        typer.echo(f"paused: continue with `civility train --resume --run-name {run_dir.name} ...`")
    else:
        typer.echo(f"bundle: {result.bundle_dir}")


def export_command(
    run: Annotated[Path, typer.Option(help="a finished run directory (runs/<name>)")],
    output_root: Annotated[Path, typer.Option(help="bundles go to OUTPUT_ROOT/<name>/<version>/")] = (
        DEFAULT_OUTPUT_ROOT
    ),
    fmt: Annotated[BundleFormatOption | None, typer.Option("--format", help="bundle format")] = None,
    name: Annotated[str | None, typer.Option(help="bundle name (default: the run's recipe)")] = None,
    version: Annotated[str | None, typer.Option(help="bundle version (default: the run's recipe)")] = None,
    data: Annotated[Path | None, typer.Option(help="corpus directory, for licences from stats.json")] = None,
) -> None:
    """Export a finished training run as a bundle (a LoRA adapter, or ONNX fp32 + int8)."""
    from pydantic import ValidationError

    from civility.model.bundle import SEMVER, BundleError
    from civility.training.export import ExportError, export_bundle

    if version is not None and not re.match(SEMVER, version):
        raise _fail(f"--version {version!r} is not a semantic version like 1.2.0")
    try:
        bundle = export_bundle(
            run, output_root, fmt=fmt.value if fmt else None, name=name, version=version, data_dir=data
        )
    except (ExportError, BundleError, ValidationError) as exc:
        raise _fail(str(exc)) from None
    typer.echo(f"bundle: {bundle}")


def register(app: typer.Typer) -> None:
    """Add ``train`` and ``export`` to the root ``civility`` app."""
    app.command("train")(train_command)
    app.command("export")(export_command)

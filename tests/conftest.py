"""Shared fixtures. Teammates may append fixtures below; keep heavy imports inside fixtures.

``dev_bundle`` and ``dev_lora_bundle`` are real (tiny) models: ``configs/train/tiny.yaml`` trained
for a few seconds on ``tests/data/tiny_train.jsonl`` (hand-written comments), calibrated, and
exported once per test session as an ONNX bundle and as a LoRA bundle.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from datasets import DatasetDict

os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

TESTS_DIR = Path(__file__).resolve().parent
TINY_TRAIN = TESTS_DIR / "data" / "tiny_train.jsonl"
TINY_RECIPE = "train/tiny.yaml"
TINY_HOLDOUT_FRACTION = 0.3


@pytest.fixture(scope="session")
def tiny_corpus() -> DatasetDict:
    """The hand-written tiny set as a corpus-contract DatasetDict (train / validation / test)."""
    from civility.model.labels import label_ids
    from civility.training.train_config import load_train_config
    from civility.training.trainer_data import dataset_from_label_file

    seed = load_train_config(TINY_RECIPE).seed
    return dataset_from_label_file(TINY_TRAIN, label_ids(), holdout_fraction=TINY_HOLDOUT_FRACTION, seed=seed)


@pytest.fixture(scope="session")
def dev_run(tiny_corpus: DatasetDict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished, calibrated tiny training run directory (no bundle exported)."""
    from civility.training.pipeline import run_pipeline
    from civility.training.train_config import load_train_config

    run_dir = tmp_path_factory.mktemp("dev-run") / "tiny"
    run_pipeline(load_train_config(TINY_RECIPE), tiny_corpus, run_dir, None, progress=False)
    return run_dir


@pytest.fixture(scope="session")
def dev_bundle(dev_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ONNX-format bundle directory (``model.fp32.onnx`` + ``model.int8.onnx``) of the tiny model."""
    from civility.training.export import export_bundle

    return export_bundle(dev_run, tmp_path_factory.mktemp("dev-bundles"), fmt="onnx")


@pytest.fixture(scope="session")
def dev_lora_bundle(dev_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LoRA-format bundle directory (``adapter/``) of the same tiny model, for materialisation."""
    from civility.training.export import export_bundle

    return export_bundle(dev_run, tmp_path_factory.mktemp("dev-lora-bundles"), fmt="lora")

"""``civility train`` end to end: data -> LoRA fine-tuning -> calibration -> bundle.

Validation rows are shuffled once (seeded) and split: the first ``eval.max_rows`` drive early
stopping; the rest (capped at ``calibration.max_rows``) are held out for calibration, thresholds,
the reported metrics and the int8 agreement check. When fewer than
``calibration.min_heldout_rows`` would remain, calibration uses the whole validation split
(after training, which is allowed but is no longer a clean hold-out; the manifest says so).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from civility.model.labels import label_ids
from civility.training.calibrate import calibrate
from civility.training.export import (
    CALIBRATION_FILE,
    HELDOUT_FILE,
    SOURCES_FILE,
    BundleFormat,
    Heldout,
    export_bundle,
    read_data_sources,
)
from civility.training.lora import load_base_classifier, load_tokenizer
from civility.training.predict import predict_logits
from civility.training.train import BEST_DIR, TrainResult, pick_device, train
from civility.training.train_config import TrainConfig
from civility.training.trainer_data import (
    Encoded,
    append_rows,
    encode,
    hold_out_corpora,
    read_label_records,
    records_dataset,
)

if TYPE_CHECKING:
    from datasets import DatasetDict


@dataclass
class PreparedData:
    train: Encoded
    early_stopping: Encoded
    heldout: Encoded
    heldout_is_clean: bool


@dataclass
class PipelineResult:
    train: TrainResult
    bundle_dir: Path | None


def prepare_data(
    config: TrainConfig,
    corpus: DatasetDict,
    labels: Sequence[str],
    extra_labels: Sequence[Path] = (),
) -> PreparedData:
    """Tokenise train (+ extra label files) and split validation into early-stopping and held-out rows."""
    tokenizer = load_tokenizer()
    train_ds = corpus["train"]
    if config.data.max_train_rows is not None and len(train_ds) > config.data.max_train_rows:
        train_ds = train_ds.shuffle(seed=config.seed).select(range(config.data.max_train_rows))
    for path in extra_labels:
        records = read_label_records(path, labels)
        train_ds = append_rows(
            train_ds, records_dataset(records, labels, config.data.extra_labels_weight), labels
        )
    validation = corpus["validation"].shuffle(seed=config.seed)
    n_eval = min(len(validation), config.eval.max_rows)
    remaining = len(validation) - n_eval
    clean = remaining >= config.calibration.min_heldout_rows
    held_range = (
        range(n_eval, n_eval + min(remaining, config.calibration.max_rows))
        if clean
        else range(min(len(validation), config.calibration.max_rows))
    )
    max_length = config.data.max_length
    return PreparedData(
        train=encode(train_ds, tokenizer, labels, max_length),
        early_stopping=encode(validation.select(range(n_eval)), tokenizer, labels, max_length),
        heldout=encode(validation.select(held_range), tokenizer, labels, max_length),
        heldout_is_clean=clean,
    )


def calibrate_run(config: TrainConfig, run_dir: Path, data: PreparedData, labels: Sequence[str]) -> None:
    """Score the held-out rows with the best adapter; write calibration and thresholds into the run."""
    import torch
    from peft import PeftModel

    torch.set_num_threads(config.threads)
    device = pick_device()
    tokenizer = load_tokenizer()
    model = PeftModel.from_pretrained(load_base_classifier(labels), str(run_dir / BEST_DIR)).to(device)
    logits = predict_logits(
        model, data.heldout, config.eval.batch_size, int(tokenizer.pad_token_id or 0), device
    )
    result = calibrate(
        logits, data.heldout.targets, labels, config.calibration, corpus=data.heldout.corpus, seed=config.seed
    )
    result.metrics["heldout_is_clean"] = data.heldout_is_clean
    payload = {
        "labels": list(labels),
        "calibration": {k: v.model_dump() for k, v in result.calibration.items()},
        "thresholds": result.thresholds,
        "metrics": result.metrics,
    }
    (run_dir / CALIBRATION_FILE).write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    order = np.random.default_rng(config.seed).permutation(len(data.heldout))
    agreement = data.heldout.subset(order[: config.export.agreement_rows])
    Heldout(input_ids=agreement.input_ids, targets=agreement.targets).save(run_dir / HELDOUT_FILE)


def run_pipeline(
    config: TrainConfig,
    corpus: DatasetDict,
    run_dir: Path,
    output_root: Path | None,
    *,
    data_dir: Path | None = None,
    extra_labels: Sequence[Path] = (),
    hold_out: Sequence[str] = (),
    resume: bool = False,
    stop_after_steps: int | None = None,
    fmt: BundleFormat | None = None,
    progress: bool = True,
) -> PipelineResult:
    """Train, calibrate and (when ``output_root`` is given and the run was not paused) export.

    ``hold_out`` corpora are removed from the train and validation rows the run reads (see
    :func:`hold_out_corpora`), and from the bundle's list of training data.
    """
    labels = label_ids()
    corpus = hold_out_corpora(corpus, hold_out)
    data = prepare_data(config, corpus, labels, extra_labels)
    result = train(
        config,
        data.train,
        data.early_stopping,
        labels,
        run_dir,
        resume=resume,
        digest_extra=[p.name for p in extra_labels] + [f"hold-out:{name}" for name in sorted(hold_out)],
        stop_after_steps=stop_after_steps,
        progress=progress,
    )
    if result.stop_reason == "paused":
        return PipelineResult(train=result, bundle_dir=None)
    sources = [s.model_dump() for s in read_data_sources(data_dir) if s.name not in set(hold_out)]
    sources += [
        {
            "name": p.name,
            "rows": sum(1 for _ in p.open(encoding="utf-8")),
            "license": "own labels",
            "note": "--extra-labels",
        }
        for p in extra_labels
    ]
    (run_dir / SOURCES_FILE).write_text(json.dumps(sources, indent=2) + "\n", encoding="utf-8")
    calibrate_run(config, run_dir, data, labels)
    bundle = export_bundle(run_dir, output_root, fmt=fmt) if output_root is not None else None
    return PipelineResult(train=result, bundle_dir=bundle)

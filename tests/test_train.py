"""Fine-tuning: masked loss, batching, label files, resumable runs, time budget, calibration."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from civility.cli import app
from civility.model.labels import label_ids
from civility.training.calibrate import apply_calibration, calibrate, choose_threshold, fit_label
from civility.training.loss import masked_bce, pos_weights
from civility.training.metrics import expected_calibration_error
from civility.training.train import RunError, train
from civility.training.train_config import TrainConfig, TrainConfigError, load_train_config
from civility.training.trainer_data import (
    TrainingDataError,
    bucketed_batches,
    encode,
    hold_out_corpora,
    read_label_records,
)

TINY = "train/tiny.yaml"


# --- loss ----------------------------------------------------------------------------------------


def test_masked_loss_ignores_missing_labels() -> None:
    torch.manual_seed(0)
    targets = torch.tensor([[1.0, float("nan"), 0.0], [float("nan"), 0.3, 1.0]])
    weights = torch.ones(2)
    logits = torch.randn(2, 3, requires_grad=True)
    loss = masked_bce(logits, targets, weights)
    loss.backward()  # type: ignore[no-untyped-call]
    assert logits.grad is not None
    missing = torch.isnan(targets)
    assert torch.all(logits.grad[missing] == 0)
    assert torch.all(logits.grad[~missing] != 0)

    # changing a missing cell's logit changes nothing
    moved = logits.detach().clone()
    moved[missing] += 50.0
    assert torch.isclose(masked_bce(moved, targets, weights), loss.detach())

    # and the value is the mean BCE over the annotated cells only
    keep = ~missing
    expected = torch.nn.functional.binary_cross_entropy_with_logits(logits.detach()[keep], targets[keep])
    assert torch.isclose(loss.detach(), expected)


def test_masked_loss_uses_row_weights_and_pos_weight() -> None:
    targets = torch.tensor([[1.0], [0.0]])
    logits = torch.zeros(2, 1)
    only_first = masked_bce(logits, targets, torch.tensor([1.0, 0.0]))
    assert torch.isclose(only_first, torch.tensor(np.log(2.0), dtype=torch.float32))
    weighted = masked_bce(logits, targets, torch.ones(2), pos_weight=torch.tensor([3.0]))
    assert torch.isclose(weighted, torch.tensor((3 * np.log(2.0) + np.log(2.0)) / 2, dtype=torch.float32))


def test_label_weights_give_a_label_a_larger_share_of_the_loss() -> None:
    targets = torch.tensor([[1.0, 0.0], [0.0, float("nan")]])
    logits = torch.tensor([[0.0, 2.0], [1.0, 0.0]], requires_grad=True)
    plain = masked_bce(logits, targets, torch.ones(2))
    weighted = masked_bce(logits, targets, torch.ones(2), label_weights=torch.tensor([1.0, 3.0]))
    cells = torch.nn.functional.binary_cross_entropy_with_logits(
        logits.detach(), torch.nan_to_num(targets), reduction="none"
    )
    expected = (cells[0, 0] + 3 * cells[0, 1] + cells[1, 0]) / 5
    assert torch.isclose(weighted.detach(), expected)
    assert not torch.isclose(weighted.detach(), plain.detach())
    # all-ones label weights are the unweighted loss
    ones = masked_bce(logits, targets, torch.ones(2), label_weights=torch.ones(2))
    assert torch.isclose(ones.detach(), plain.detach())


def test_recipe_rejects_label_weights_for_unknown_or_non_positive_labels() -> None:
    from pydantic import ValidationError

    from civility.training.train_config import LossSettings

    assert LossSettings(pos_weight_cap=10, label_weights={"harassment": 2.0}).weights_for(
        ["toxicity", "harassment"]
    ) == [1.0, 2.0]
    with pytest.raises(ValidationError, match="unknown label"):
        LossSettings(pos_weight_cap=10, label_weights={"harrassment": 2.0})
    with pytest.raises(ValidationError, match="greater than 0"):
        LossSettings(pos_weight_cap=10, label_weights={"harassment": 0.0})


def test_masked_loss_of_a_fully_missing_batch_is_zero() -> None:
    logits = torch.randn(2, 2, requires_grad=True)
    loss = masked_bce(logits, torch.full((2, 2), float("nan")), torch.ones(2))
    assert float(loss.detach()) == 0.0
    loss.backward()  # type: ignore[no-untyped-call]


def test_pos_weights_are_capped() -> None:
    weights = pos_weights(np.array([0.5, 0.01, 0.9, np.nan, 0.0]), cap=10.0)
    assert weights.tolist() == [1.0, 10.0, 1.0, 10.0, 10.0]


# --- data ----------------------------------------------------------------------------------------


def test_bucketed_batches_cover_every_row_once_and_are_reproducible() -> None:
    lengths = np.random.default_rng(0).integers(3, 120, size=1000)
    batches = bucketed_batches(lengths, batch_size=32, chunk_batches=5, seed=3)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(1000))
    again = bucketed_batches(lengths, batch_size=32, chunk_batches=5, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(batches, again, strict=True))

    # sorting within chunks makes batches much tighter than random ones
    def spread(groups: list[np.ndarray]) -> float:
        return float(np.mean([lengths[g].max() - lengths[g].min() for g in groups]))

    random_batches = np.array_split(np.random.default_rng(1).permutation(1000), len(batches))
    assert spread(batches) < spread(random_batches) / 3


def test_tiny_corpus_keeps_missing_labels_missing(tiny_corpus) -> None:  # type: ignore[no-untyped-def]
    from civility.training.lora import load_tokenizer

    labels = label_ids()
    encoded = encode(tiny_corpus["train"], load_tokenizer(), labels, max_length=16)
    assert encoded.targets.shape == (len(tiny_corpus["train"]), len(labels))
    assert np.isnan(encoded.targets).any()  # some rows annotate only some labels
    assert max(len(ids) for ids in encoded.input_ids) <= 16


def test_hold_out_removes_a_corpus_from_everything_training_reads() -> None:
    from datasets import Dataset, DatasetDict

    def split(corpora: list[str]) -> Dataset:
        return Dataset.from_dict({"text": [f"{c} {i}" for i, c in enumerate(corpora)], "corpus": corpora})

    corpus = DatasetDict(
        train=split(["news_a", "news_b", "news_a", "forum"]),
        validation=split(["news_a", "forum"]),
        test=split(["news_a", "news_b"]),
    )
    kept = hold_out_corpora(corpus, ["news_a"])
    assert kept["train"]["corpus"] == ["news_b", "forum"]
    assert kept["validation"]["corpus"] == ["forum"]
    assert kept["test"]["corpus"] == ["news_a", "news_b"]  # never read by training; kept for evaluation
    assert hold_out_corpora(corpus, []) is corpus
    with pytest.raises(TrainingDataError, match=r"no such corpus.*typo"):
        hold_out_corpora(corpus, ["typo"])
    with pytest.raises(TrainingDataError, match="leaves split 'validation' empty"):
        hold_out_corpora(corpus, ["news_a", "forum"])


def test_label_files_are_validated(tmp_path: Path) -> None:
    path = tmp_path / "labels.jsonl"
    path.write_text(json.dumps({"id": "1", "text": "hi", "labels": {"rudeness": 1}}) + "\n")
    with pytest.raises(TrainingDataError, match="unknown labels"):
        read_label_records(path, label_ids())
    path.write_text(json.dumps({"id": "1", "text": "hi", "labels": {"toxicity": 3}}) + "\n")
    with pytest.raises(TrainingDataError, match=r"\[0, 1\]"):
        read_label_records(path, label_ids())
    path.write_text("{not json\n")
    with pytest.raises(TrainingDataError, match=r"labels\.jsonl:1"):
        read_label_records(path, label_ids())
    path.write_text(json.dumps({"id": "1", "text": "you idiot", "labels": {"insult": 1}}) + "\n")
    assert read_label_records(path, label_ids())[0].labels == {"insult": 1.0}


# --- recipes -------------------------------------------------------------------------------------


def test_shipped_recipes_validate() -> None:
    for name in ("train/default.yaml", TINY):
        assert isinstance(load_train_config(name), TrainConfig)


def test_bad_recipe_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("seed: 1\nthreads: 0\n")
    with pytest.raises(TrainConfigError, match="invalid training config"):
        load_train_config(bad)
    with pytest.raises(TrainConfigError, match="not found"):
        load_train_config(tmp_path / "missing.yaml")


def test_cli_reports_bad_input_without_traceback(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["train", "--config", str(tmp_path / "nope.yaml"), "--data", str(tmp_path)])
    assert result.exit_code == 1
    assert "not found" in result.output and "Traceback" not in result.output
    result = runner.invoke(app, ["train", "--config", TINY, "--data", str(tmp_path / "no-corpus")])
    assert result.exit_code == 1
    assert "build-data" in result.output


# --- training runs -------------------------------------------------------------------------------


def _short_recipe(max_steps: int, every: int, ema_decay: float | None = None) -> TrainConfig:
    base = load_train_config(TINY)
    return base.model_copy(
        update={
            "optim": base.optim.model_copy(
                update={
                    "max_steps": max_steps,
                    "warmup_steps": 2,
                    "max_minutes": None,
                    "ema_decay": ema_decay,
                }
            ),
            "eval": base.eval.model_copy(update={"every_steps": every}),
            "checkpoint": base.checkpoint.model_copy(update={"every_steps": every}),
        }
    )


@pytest.fixture(scope="module")
def tiny_encoded(tiny_corpus):  # type: ignore[no-untyped-def]
    from civility.training.lora import load_tokenizer

    tokenizer, labels = load_tokenizer(), label_ids()
    max_length = load_train_config(TINY).data.max_length
    return (
        encode(tiny_corpus["train"], tokenizer, labels, max_length),
        encode(tiny_corpus["validation"], tokenizer, labels, max_length),
    )


def _trainable(run_dir: Path, key: str = "model") -> dict[str, torch.Tensor]:
    saved = torch.load(run_dir / "checkpoint.pt", weights_only=False)[key]
    return dict(saved["weights"] if key == "ema" else saved)


@pytest.mark.slow
@pytest.mark.parametrize("ema_decay", [None, 0.8], ids=["raw-weights", "moving-average"])
def test_resume_continues_from_the_checkpoint_step(
    tiny_encoded, tmp_path: Path, ema_decay: float | None
) -> None:  # type: ignore[no-untyped-def]
    train_data, eval_data = tiny_encoded
    labels = label_ids()
    recipe = _short_recipe(max_steps=8, every=4, ema_decay=ema_decay)

    paused = train(
        recipe, train_data, eval_data, labels, tmp_path / "split", stop_after_steps=4, progress=False
    )
    assert (paused.stop_reason, paused.final_step) == ("paused", 4)

    with pytest.raises(RunError, match="--resume"):
        train(recipe, train_data, eval_data, labels, tmp_path / "split", progress=False)

    resumed = train(recipe, train_data, eval_data, labels, tmp_path / "split", resume=True, progress=False)
    assert resumed.start_step == 4
    assert resumed.final_step == 8

    # an uninterrupted run ends with the same weights: optimizer, schedule, data order and RNG resumed
    whole = train(recipe, train_data, eval_data, labels, tmp_path / "whole", progress=False)
    assert whole.final_step == 8
    assert resumed.examples_seen == whole.examples_seen
    keys = ["model"] if ema_decay is None else ["model", "ema"]  # the moving average is resumed too
    for key in keys:
        a, b = _trainable(tmp_path / "split", key), _trainable(tmp_path / "whole", key)
        assert a.keys() == b.keys()
        for name in a:
            torch.testing.assert_close(a[name], b[name], rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_moving_average_is_what_gets_evaluated_and_kept(tiny_encoded, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """With ``optim.ema_decay`` the kept adapter is the average of the iterates, not the last one."""
    from safetensors.torch import load_file

    train_data, eval_data = tiny_encoded
    result = train(
        _short_recipe(6, 6, ema_decay=0.5), train_data, eval_data, label_ids(), tmp_path / "e", progress=False
    )
    saved = torch.load(tmp_path / "e" / "checkpoint.pt", weights_only=False)
    assert saved["ema"]["n_averaged"] == 6
    raw, average = saved["model"], saved["ema"]["weights"]
    lora = [name for name in raw if "lora_B" in name]
    assert lora and any(not torch.equal(raw[name], average[name]) for name in lora)
    kept = load_file(str(result.adapter_dir / "adapter_model.safetensors"))
    for name in lora:  # PEFT saves "...lora_B.default.weight" as "...lora_B.weight"
        torch.testing.assert_close(kept[name.replace(".default", "")], average[name].half())


@pytest.mark.slow
def test_resume_refuses_a_different_recipe(tiny_encoded, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    train_data, eval_data = tiny_encoded
    labels = label_ids()
    with pytest.raises(RunError, match="nothing to resume"):
        train(_short_recipe(4, 2), train_data, eval_data, labels, tmp_path / "r", resume=True, progress=False)
    train(
        _short_recipe(4, 2), train_data, eval_data, labels, tmp_path / "r", stop_after_steps=2, progress=False
    )
    recipe_file = (tmp_path / "r" / "config.json").read_text()
    with pytest.raises(RunError, match="different recipe"):
        train(_short_recipe(6, 2), train_data, eval_data, labels, tmp_path / "r", resume=True, progress=False)
    assert (tmp_path / "r" / "config.json").read_text() == recipe_file  # the run is left as it was


@pytest.mark.slow
def test_time_budget_stops_gracefully_and_keeps_the_best_adapter(tiny_encoded, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    train_data, eval_data = tiny_encoded
    base = _short_recipe(max_steps=50, every=25)
    recipe = base.model_copy(update={"optim": base.optim.model_copy(update={"max_minutes": 1e-4})})
    result = train(recipe, train_data, eval_data, label_ids(), tmp_path / "budget", progress=False)
    assert result.stop_reason == "time_budget"
    assert result.final_step < 50
    assert (result.adapter_dir / "adapter_model.safetensors").is_file()
    assert result.history and result.history[-1]["step"] == result.final_step


def test_dev_run_learned_something(dev_run: Path) -> None:
    """The tiny run separates its held-out toxic and clean comments (a real model, not noise)."""
    result = json.loads((dev_run / "train_result.json").read_text())
    assert result["best_auc"] is not None and result["best_auc"] > 0.7
    calibration = json.loads((dev_run / "calibration.json").read_text())
    assert calibration["metrics"]["heldout"]["labels"]["toxicity"]["roc_auc"] > 0.8


# --- calibration ---------------------------------------------------------------------------------


def _miscalibrated(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """True probabilities p; the model's logits are overconfident and shifted: 3 * logit(p) + 1."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.02, 0.98, size=n)
    y = (rng.uniform(size=n) < p).astype(np.float32)
    logits = 3.0 * np.log(p / (1 - p)) + 1.0
    return logits.astype(np.float32), y


def test_isotonic_calibration_is_monotonic_and_reduces_ece() -> None:
    settings = load_train_config(TINY).calibration
    logits, y = _miscalibrated(4000, seed=1)
    cal = fit_label(logits, y, settings)
    assert cal.method == "isotonic"
    assert np.all(np.diff(cal.x) > 0) and np.all(np.diff(cal.y) >= 0)
    grid = np.linspace(-12, 12, 500)
    assert np.all(np.diff(apply_calibration(cal, grid)) >= 0)

    fresh_logits, fresh_y = _miscalibrated(4000, seed=2)  # measured on rows it was not fitted on
    raw = 1 / (1 + np.exp(-fresh_logits))
    before = expected_calibration_error(raw, fresh_y, settings.ece_bins)
    after = expected_calibration_error(apply_calibration(cal, fresh_logits), fresh_y, settings.ece_bins)
    assert before is not None and after is not None
    assert after < before / 2


def test_isotonic_calibration_keeps_the_models_ordering() -> None:
    """A step function would give whole blocks of comments one score; a review queue could not order them."""
    from sklearn.metrics import roc_auc_score

    settings = load_train_config(TINY).calibration
    logits, y = _miscalibrated(4000, seed=4)
    cal = fit_label(logits, y, settings)
    assert cal.method == "isotonic" and np.all(np.diff(cal.y) > 0)
    fresh_logits, fresh_y = _miscalibrated(4000, seed=5)
    calibrated = apply_calibration(cal, fresh_logits)
    raw = 1 / (1 + np.exp(-fresh_logits))
    inside = (raw > cal.x[0]) & (raw < cal.x[-1])
    assert inside.mean() > 0.8
    # (a step function leaves about one value per isotonic block: tens, not thousands)
    assert len(np.unique(calibrated[inside])) >= 0.99 * len(np.unique(fresh_logits[inside]))
    raw_auc = roc_auc_score(fresh_y, fresh_logits)
    assert roc_auc_score(fresh_y, calibrated) == pytest.approx(raw_auc, abs=0.002)


def test_temperature_scaling_when_positives_are_few() -> None:
    settings = load_train_config(TINY).calibration
    logits, y = _miscalibrated(60, seed=3)
    y[np.flatnonzero(y)[3:]] = 0.0  # three positives only
    cal = fit_label(logits, y, settings)
    assert cal.method == "temperature"
    assert cal.temperature > 0
    assert np.all(np.diff(apply_calibration(cal, np.linspace(-8, 8, 50))) >= 0)


def test_thresholds_meet_the_precision_target_on_the_data() -> None:
    logits, y = _miscalibrated(3000, seed=4)
    probs = 1 / (1 + np.exp(-logits))
    threshold, rule = choose_threshold(probs, y, precision_target=0.9)
    assert rule == "precision_target"
    flagged = probs >= threshold
    assert y[flagged].mean() >= 0.9
    assert y[probs >= threshold - 0.05].mean() < 0.9 or threshold < 0.06  # and it is the lowest such
    assert choose_threshold(probs, np.zeros_like(y), 0.9) == (0.5, "no_positives")


def test_calibrate_reports_metrics_and_handles_missing_labels() -> None:
    settings = load_train_config(TINY).calibration
    logits, y = _miscalibrated(1000, seed=5)
    targets = np.stack([y, np.full_like(y, np.nan)], axis=1)
    result = calibrate(np.stack([logits, logits], axis=1), targets, ["a", "b"], settings, corpus=["x"] * 1000)
    assert result.calibration["a"].method == "isotonic"
    assert result.calibration["b"].method == "identity"
    assert result.metrics["ece_after_cv"]["a"] < result.metrics["ece_before"]["a"]
    assert result.metrics["threshold_rule"]["b"] == "no_positives"
    assert "roc_auc" in result.metrics["heldout"]["labels"]["a"]
    assert "x" in result.metrics["heldout"]["by_corpus"]

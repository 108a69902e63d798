"""Fine-tuning loop: LoRA over the packaged MiniLM, masked BCE, early stopping, resumable checkpoints.

A run lives in ``runs/<name>/``:

- ``config.json``      the recipe the run was started with (a resume must use the same one)
- ``checkpoint.pt``    latest resumable state: trainable weights (and their moving average), optimizer,
  scheduler, step, RNG
- ``best/``            the best adapter so far (fp16 safetensors + adapter_config.json); with
  ``optim.ema_decay`` set, the evaluated and kept weights are the moving average, not the last iterate
- ``history.jsonl``    one line per evaluation
- ``train_result.json`` written when the loop ends (why it stopped, best step and AUC)
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from peft import PeftModel
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm.auto import tqdm

from civility.training.lora import (
    load_base_classifier,
    load_tokenizer,
    load_trainable_state,
    save_adapter_fp16,
    trainable_state,
    wrap_lora,
)
from civility.training.loss import masked_bce, pos_weights
from civility.training.metrics import mean_masked_auc
from civility.training.predict import predict_logits, sigmoid
from civility.training.train_config import TrainConfig
from civility.training.trainer_data import Encoded, bucketed_batches, collate, positive_prevalence

CHECKPOINT = "checkpoint.pt"
BEST_DIR = "best"
HISTORY = "history.jsonl"
RESULT = "train_result.json"
CONFIG = "config.json"


class RunError(Exception):
    """The run directory is in a state that does not allow the requested action."""


@dataclass
class TrainResult:
    run_dir: Path
    adapter_dir: Path
    start_step: int
    final_step: int
    best_step: int
    best_auc: float | None
    stop_reason: str
    elapsed_s: float
    examples_seen: int
    history: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["run_dir"] = str(self.run_dir)
        data["adapter_dir"] = str(self.adapter_dir)
        return data


@dataclass
class _State:
    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    best_auc: float | None = None
    best_step: int = 0
    evals_since_best: int = 0
    elapsed_s: float = 0.0
    examples_seen: int = 0


def pick_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def config_digest(config: TrainConfig, extra: Sequence[str] = ()) -> str:
    """Identity of a run's recipe; ``optim.max_minutes`` may change between resumes."""
    payload = config.model_dump(mode="json", exclude={"optim": {"max_minutes"}})
    payload["extra"] = list(extra)
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _atomic_torch_save(obj: Any, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _save_checkpoint(
    path: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    state: _State,
    digest: str,
    ema: AveragedModel | None,
) -> None:
    _atomic_torch_save(
        {
            "digest": digest,
            "state": asdict(state),
            "model": trainable_state(model),
            "ema": None if ema is None else _ema_state(ema),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "rng": {
                "torch": torch.get_rng_state(),
                "numpy": np.random.get_state(),
                "python": random.getstate(),
            },
        },
        path,
    )


def _load_checkpoint(
    path: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    digest: str,
    ema: AveragedModel | None,
) -> _State:
    data = torch.load(path, map_location="cpu", weights_only=False)
    if data.get("digest") != digest:
        raise RunError(
            f"{path} was written with a different recipe or extra label files; "
            "resume with the same config, or start a new run name"
        )
    load_trainable_state(model, data["model"])
    if ema is not None:
        load_trainable_state(ema.module, data["ema"]["weights"])
        ema.n_averaged.fill_(int(data["ema"]["n_averaged"]))
    optimizer.load_state_dict(data["optimizer"])
    scheduler.load_state_dict(data["scheduler"])
    torch.set_rng_state(data["rng"]["torch"])
    np.random.set_state(data["rng"]["numpy"])
    random.setstate(data["rng"]["python"])
    return _State(**data["state"])


def _ema_state(ema: AveragedModel) -> dict[str, Any]:
    return {"weights": trainable_state(ema.module), "n_averaged": int(ema.n_averaged)}


def _moving_average(model: torch.nn.Module, decay: float | None) -> AveragedModel | None:
    """An exponential moving average of ``model``'s weights, updated after every optimizer step.

    The frozen encoder weights are averaged too (they never change, so they stay exact); only the
    trainable ones are checkpointed and exported.
    """
    if decay is None:
        return None
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=False)


def _linear_warmup_decay(warmup: int, total: int) -> Any:
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))

    return factor


def train(
    config: TrainConfig,
    train_data: Encoded,
    eval_data: Encoded,
    labels: Sequence[str],
    run_dir: Path,
    *,
    resume: bool = False,
    digest_extra: Sequence[str] = (),
    stop_after_steps: int | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train LoRA on ``train_data``; early-stop on ``eval_data``; keep the best adapter in ``run_dir/best``.

    ``stop_after_steps`` pauses the run (checkpoint written) after that many steps in this call,
    so a long run can be split across sessions and continued with ``resume=True``.
    """
    started = time.monotonic()
    digest = config_digest(config, digest_extra)
    checkpoint = run_dir / CHECKPOINT
    if resume and not checkpoint.is_file():
        raise RunError(f"nothing to resume: {checkpoint} does not exist")
    if not resume and run_dir.exists() and any(run_dir.iterdir()):
        raise RunError(
            f"run directory {run_dir} is not empty; pass --resume to continue it or pick another name"
        )
    run_dir.mkdir(parents=True, exist_ok=True)

    seed_everything(config.seed)
    torch.set_num_threads(config.threads)
    device = pick_device()
    tokenizer = load_tokenizer()
    pad_id = int(tokenizer.pad_token_id or 0)
    model = wrap_lora(load_base_classifier(labels), config.lora).to(device)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optim = config.optim
    optimizer = torch.optim.AdamW(params, lr=optim.learning_rate, weight_decay=optim.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, _linear_warmup_decay(optim.warmup_steps, optim.max_steps)
    )
    pos_weight = torch.from_numpy(
        pos_weights(positive_prevalence(train_data.targets), config.loss.pos_weight_cap)
    ).to(device)
    label_weights = torch.tensor(config.loss.weights_for(labels), dtype=torch.float32, device=device)

    ema = _moving_average(model, optim.ema_decay)
    kept = model if ema is None else cast(PeftModel, ema.module)  # what is evaluated, kept and exported
    state = _State()
    if resume:
        state = _load_checkpoint(checkpoint, model, optimizer, scheduler, digest, ema)
    (run_dir / CONFIG).write_text(config.model_dump_json(indent=2) + "\n", encoding="utf-8")
    start_step = state.step
    history: list[dict[str, Any]] = []
    lengths = train_data.lengths
    targets = torch.from_numpy(train_data.targets)
    weights = torch.from_numpy(train_data.weights)
    best_dir = run_dir / BEST_DIR
    elapsed_before = state.elapsed_s
    budget_s = optim.max_minutes * 60.0 if optim.max_minutes else None

    def elapsed() -> float:
        return elapsed_before + time.monotonic() - started

    def evaluate() -> bool:
        """Evaluate, keep the adapter if it is the best so far; True means stop early."""
        probs = sigmoid(predict_logits(kept, eval_data, config.eval.batch_size, pad_id, device))
        auc, _ = mean_masked_auc(probs, eval_data.targets)
        improved = auc is not None and (
            state.best_auc is None or auc > state.best_auc + config.eval.min_delta
        )
        if improved or auc is None or not best_dir.exists():  # no usable AUC: keep the latest
            save_adapter_fp16(kept, best_dir)
            state.best_auc, state.best_step, state.evals_since_best = auc, state.step, 0
        else:
            state.evals_since_best += 1
        row = {
            "step": state.step,
            "mean_auc": auc,
            "best_auc": state.best_auc,
            "elapsed_s": round(elapsed(), 1),
        }
        history.append(row)
        with (run_dir / HISTORY).open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")
        return state.step >= config.eval.min_steps and state.evals_since_best >= config.eval.patience

    stop_reason = "max_steps"
    bar = tqdm(total=optim.max_steps, initial=state.step, desc="train", unit="step", disable=not progress)
    running_loss: float | None = None
    evaluated_at = -1
    steps_this_call = 0
    while state.step < optim.max_steps and stop_reason == "max_steps":
        batches = bucketed_batches(
            lengths, optim.batch_size, config.data.bucket_chunk_batches, config.seed + state.epoch
        )
        while state.batch_in_epoch < len(batches):
            index = batches[state.batch_in_epoch]
            inputs = collate(train_data, index, pad_id, device)
            logits = model(**inputs).logits
            loss = masked_bce(
                logits, targets[index].to(device), weights[index].to(device), pos_weight, label_weights
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, optim.grad_clip)
            optimizer.step()
            scheduler.step()
            if ema is not None:
                ema.update_parameters(model)
            state.step += 1
            state.batch_in_epoch += 1
            state.examples_seen += len(index)
            steps_this_call += 1
            value = float(loss.detach())
            running_loss = value if running_loss is None else 0.98 * running_loss + 0.02 * value
            bar.update(1)
            bar.set_postfix(loss=f"{running_loss:.4f}", best_auc=f"{state.best_auc or 0:.4f}")

            stop_now = False
            if state.step % config.eval.every_steps == 0 or state.step == optim.max_steps:
                evaluated_at = state.step
                if evaluate():
                    stop_reason, stop_now = "early_stopping", True
            if budget_s is not None and elapsed() >= budget_s:
                stop_reason, stop_now = "time_budget", True
            if stop_after_steps is not None and steps_this_call >= stop_after_steps and not stop_now:
                stop_reason, stop_now = "paused", True
            if stop_now or state.step % config.checkpoint.every_steps == 0 or state.step >= optim.max_steps:
                state.elapsed_s = elapsed()
                _save_checkpoint(checkpoint, model, optimizer, scheduler, state, digest, ema)
            if stop_now or state.step >= optim.max_steps:
                break
        else:
            state.epoch += 1
            state.batch_in_epoch = 0
    bar.close()
    if evaluated_at != state.step and stop_reason != "paused":
        evaluate()  # the final weights get their chance to be the best
        state.elapsed_s = elapsed()
        _save_checkpoint(checkpoint, model, optimizer, scheduler, state, digest, ema)

    result = TrainResult(
        run_dir=run_dir,
        adapter_dir=best_dir,
        start_step=start_step,
        final_step=state.step,
        best_step=state.best_step,
        best_auc=state.best_auc,
        stop_reason=stop_reason,
        elapsed_s=round(elapsed(), 1),
        examples_seen=state.examples_seen,
        history=history,
    )
    (run_dir / RESULT).write_text(json.dumps(result.to_json(), indent=2) + "\n", encoding="utf-8")
    return result

"""The training recipe: a pydantic schema for ``configs/train/*.yaml``.

Every number that shapes a run (LoRA rank, learning rate, steps, evaluation cadence,
calibration and export choices) lives in the YAML recipe and is validated here.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, ValidationError, model_validator

from civility.model.bundle import SEMVER
from civility.model.labels import label_ids
from civility.model.resources import load_yaml

QuantizationVariant = Literal["qint8", "qint8_per_channel", "qint8_per_channel_matmul"]


class TrainConfigError(Exception):
    """The training recipe is missing or invalid."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BundleSettings(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    version: str = Field(pattern=SEMVER)
    description: str = ""


class LoraSettings(_Strict):
    r: int = Field(gt=0)
    alpha: int = Field(gt=0)
    dropout: float = Field(ge=0.0, lt=1.0)
    target_modules: list[str] = Field(min_length=1)
    modules_to_save: list[str] = Field(default_factory=lambda: ["classifier"])


class OptimSettings(_Strict):
    batch_size: int = Field(gt=0)
    learning_rate: float = Field(gt=0.0)
    weight_decay: float = Field(ge=0.0)
    warmup_steps: int = Field(ge=0)
    max_steps: int = Field(gt=0)
    grad_clip: float = Field(gt=0.0)
    max_minutes: float | None = Field(default=None, gt=0.0)
    ema_decay: float | None = Field(
        default=None,
        gt=0.0,
        lt=1.0,
        description="evaluate, keep and export an exponential moving average of the weights with this "
        "decay (torch.optim.swa_utils); null trains and keeps the raw weights",
    )


class LossSettings(_Strict):
    pos_weight_cap: float = Field(ge=1.0, description="upper bound on per-label neg/pos ratio")
    label_weights: dict[str, PositiveFloat] = Field(
        default_factory=dict,
        description="per-label loss weight (default 1): a label's share of the loss, e.g. for a rare label "
        "whose few annotated cells the common labels outvote",
    )

    @model_validator(mode="after")
    def _known_labels(self) -> LossSettings:
        unknown = sorted(set(self.label_weights) - set(label_ids()))
        if unknown:
            raise ValueError(f"loss.label_weights: unknown label(s) {unknown}")
        return self

    def weights_for(self, labels: Sequence[str]) -> list[float]:
        """Loss weight per label, in ``labels`` order."""
        return [self.label_weights.get(label, 1.0) for label in labels]


class DataSettings(_Strict):
    max_length: int = Field(gt=8, le=512)
    bucket_chunk_batches: int = Field(gt=0, description="sort by length within chunks of this many batches")
    max_train_rows: int | None = Field(default=None, gt=0)
    extra_labels_weight: float = Field(gt=0.0, description="row weight of --extra-labels rows")


class EvalSettings(_Strict):
    every_steps: int = Field(gt=0)
    max_rows: int = Field(gt=0, description="validation rows used for early stopping")
    batch_size: int = Field(gt=0)
    patience: int = Field(gt=0, description="evaluations without improvement before stopping")
    min_steps: int = Field(ge=0, description="no early stopping before this step")
    min_delta: float = Field(ge=0.0)


class CheckpointSettings(_Strict):
    every_steps: int = Field(gt=0)


class CalibrationSettings(_Strict):
    precision_target: float = Field(gt=0.0, lt=1.0)
    min_positives_isotonic: int = Field(gt=0)
    min_heldout_rows: int = Field(
        gt=0, description="if fewer validation rows remain after early stopping, calibrate on all of them"
    )
    max_rows: int = Field(gt=0, description="cap on held-out rows used for calibration")
    ece_bins: int = Field(gt=1)
    knot_decimals: int = Field(ge=2, le=8)


class ExportSettings(_Strict):
    format: Literal["lora", "onnx"]
    quantization_variants: list[QuantizationVariant] = Field(min_length=1)
    max_auc_drop: float = Field(ge=0.0)
    agreement_rows: int = Field(gt=0)
    agreement_min_positives: int = Field(
        default=1, gt=0, description="labels with fewer held-out positives do not decide the AUC comparison"
    )


class TrainConfig(_Strict):
    bundle: BundleSettings
    seed: int
    threads: int = Field(gt=0)
    lora: LoraSettings
    optim: OptimSettings
    loss: LossSettings
    data: DataSettings
    eval: EvalSettings
    checkpoint: CheckpointSettings
    calibration: CalibrationSettings
    export: ExportSettings

    @model_validator(mode="after")
    def _warmup_fits(self) -> TrainConfig:
        if self.optim.warmup_steps >= self.optim.max_steps:
            raise ValueError("optim.warmup_steps must be smaller than optim.max_steps")
        return self


def load_train_config(path: str | Path) -> TrainConfig:
    """Read and validate a recipe (a path, or a name inside ``configs/``, e.g. ``train/tiny.yaml``)."""
    try:
        raw = load_yaml(path)
    except FileNotFoundError as exc:
        raise TrainConfigError(f"training config {path} not found") from exc
    if not isinstance(raw, dict):
        raise TrainConfigError(f"training config {path} must be a YAML mapping")
    try:
        return TrainConfig.model_validate(raw)
    except ValidationError as exc:
        raise TrainConfigError(f"invalid training config {path}:\n{exc}") from exc

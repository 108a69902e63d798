"""Evaluation settings, read from ``configs/evaluation.yaml`` and validated here."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from civility.model.resources import load_yaml

DATASETS_ENV = "CIVILITY_DATASETS_DIR"
# What `civility evaluate --policy` measures held/rejected comments against, unless configured.
DEFAULT_REFERENCE_LABELS = ("toxicity", "insult", "threat", "harassment")


def repo_root() -> Path:
    """The source checkout this package runs from (functional suites and baseline tools live there)."""
    import civility

    return Path(civility.__file__).resolve().parent.parent


def datasets_dir() -> Path:
    """The read-only public corpora, found the way ``civility build-data`` finds them.

    ``$CIVILITY_DATASETS_DIR``, else the first existing root of ``configs/data.yaml``
    (``../shared/datasets`` next to the checkout, ...); when none exists, ``../shared/datasets``
    (callers report it as missing).
    """
    from civility.training.build_data import load_recipe, resolve_datasets_root
    from civility.training.corpora.spec import MappingError

    env = os.environ.get(DATASETS_ENV)
    if env:
        return Path(env)
    try:
        return resolve_datasets_root(load_recipe())
    except MappingError:
        return repo_root().parent / "shared" / "datasets"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CalibrationConfig(_Strict):
    bins: int = Field(10, ge=2, le=100)
    min_rows: int = Field(20, ge=1)


class TemplateSetConfig(_Strict):
    path: Path
    exclude_templates: list[str] = Field(default_factory=list)
    max_rows_per_cell: int = Field(40, ge=1)
    seed: int = 13


class WikiSetConfig(_Strict):
    path: Path
    max_rows: int | None = Field(None, ge=1)  # None: every comment; else a seeded random sample
    seed: int = 13


class BiasConfig(_Strict):
    label: str = "toxicity"
    power_mean_p: float = -5.0
    overall_weight: float = Field(0.25, ge=0.0, le=1.0)
    min_subgroup_rows: int = Field(10, ge=1)
    templates: TemplateSetConfig
    wiki: WikiSetConfig
    identity_terms: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _terms_are_lower_case(self) -> BiasConfig:
        bad = [t for t in self.identity_terms if t != t.lower().strip() or not t]
        if bad:
            raise ValueError(f"identity_terms must be lower-case and trimmed: {bad}")
        return self

    @model_validator(mode="after")
    def _power_mean_is_not_zero(self) -> BiasConfig:
        if self.power_mean_p == 0:
            raise ValueError("power_mean_p must be non-zero (p = 0 is the geometric mean; use a small value)")
        return self


class FunctionalConfig(_Strict):
    suites_dir: Path = Path("tests/data/functional")
    low_below: float = Field(0.5, gt=0.0, le=1.0)
    high_at_least: float = Field(0.5, ge=0.0, le=1.0)


class BaselineLabelMap(_Strict):
    outputs: list[str] = Field(min_length=1)
    combine: Literal["sum", "max"] = "max"
    reference: bool = False  # the baseline does not claim this label; shown for comparison only


class BaselineModelConfig(_Strict):
    package: str
    labels: dict[str, BaselineLabelMap]


class BaselinesConfig(_Strict):
    venv: Path = Path(".venv-baselines")
    runner: Path = Path("benchmarks/baselines/run_baseline.py")
    timeout_seconds: float = Field(3600, gt=0)
    decision_threshold: float = Field(0.5, gt=0.0, lt=1.0)
    models: dict[str, BaselineModelConfig]


class PolicyOutcomesConfig(_Strict):
    reference_labels: list[str] = Field(default_factory=lambda: list(DEFAULT_REFERENCE_LABELS), min_length=1)
    min_corpus_rows: int = Field(20, ge=1)  # smaller corpora count overall but get no row of their own

    @model_validator(mode="after")
    def _known_unique_labels(self) -> PolicyOutcomesConfig:
        from civility.model.labels import label_ids

        unknown = [label for label in self.reference_labels if label not in label_ids()]
        if unknown:
            raise ValueError(f"reference_labels: unknown labels {unknown}; known labels: {label_ids()}")
        if len(set(self.reference_labels)) != len(self.reference_labels):
            raise ValueError(f"reference_labels: duplicates in {self.reference_labels}")
        return self


class EvaluationConfig(_Strict):
    binarise_at: float = Field(0.5, gt=0.0, lt=1.0)
    batch_size: int = Field(64, ge=1)
    calibration: CalibrationConfig
    bias: BiasConfig
    functional: FunctionalConfig
    baselines: BaselinesConfig
    policy: PolicyOutcomesConfig = Field(default_factory=PolicyOutcomesConfig)


def load_evaluation_config(path: str | Path = "evaluation.yaml") -> EvaluationConfig:
    """Load and validate the evaluation settings (default: the shipped ``configs/evaluation.yaml``)."""
    return EvaluationConfig.model_validate(load_yaml(path))


def resolve_under(base: Path, path: Path) -> Path:
    """``path`` if absolute, else ``base / path``."""
    return path if path.is_absolute() else base / path

"""Review-queue configuration (``configs/moderation.yaml``), validated with pydantic."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from civility.model.labels import label_ids
from civility.model.resources import load_yaml

DEFAULT_FILE = "moderation.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AuthorHistoryRules(_Strict):
    window_days: int = Field(default=30, ge=1)
    min_decided: int = Field(default=3, ge=1)
    max_rejection_rate: float = Field(default=0.5, ge=0.0, le=1.0)
    premoderate_first: int = Field(default=0, ge=0)
    duplicate_window_hours: float = Field(default=24.0, ge=0.0)
    recent_decisions: int = Field(default=20, ge=1, le=500)


class PriorityRules(_Strict):
    report_weight: float = Field(default=0.5, ge=0.0)


class SpanRules(_Strict):
    store_for: Literal["held", "all", "none"] = "held"
    min_score: float = Field(default=0.3, ge=0.0, le=1.0)


class Pagination(_Strict):
    default_limit: int = Field(default=50, ge=1)
    max_limit: int = Field(default=500, ge=1)

    @model_validator(mode="after")
    def _default_within_max(self) -> Pagination:
        if self.default_limit > self.max_limit:
            raise ValueError("pagination.default_limit must not exceed pagination.max_limit")
        return self


class BulkRules(_Strict):
    max_items: int = Field(default=500, ge=1)


class RejectReason(_Strict):
    title: str
    description: str = ""
    labels: dict[str, float] = Field(default_factory=dict)
    explanation_required: bool = False

    @field_validator("labels")
    @classmethod
    def _known_labels(cls, value: dict[str, float]) -> dict[str, float]:
        known = set(label_ids())
        unknown = sorted(set(value) - known)
        if unknown:
            raise ValueError(f"unknown label(s) {unknown}; labels.yaml defines {sorted(known)}")
        for label, score in value.items():
            if not 0.0 <= score <= 1.0:
                raise ValueError(f"label {label!r}: value {score} is outside [0, 1]")
        return value


class ModerationConfig(_Strict):
    author_history: AuthorHistoryRules = AuthorHistoryRules()
    priority: PriorityRules = PriorityRules()
    spans: SpanRules = SpanRules()
    pagination: Pagination = Pagination()
    bulk: BulkRules = BulkRules()
    reject_reasons: dict[str, RejectReason] = Field(min_length=1)
    report_reasons: list[str] = Field(min_length=1)

    @field_validator("reject_reasons")
    @classmethod
    def _reason_codes(cls, value: dict[str, RejectReason]) -> dict[str, RejectReason]:
        for code in value:
            if not code.replace("_", "").isalnum() or code != code.lower():
                raise ValueError(f"reason code {code!r} must be lower-case letters, digits and _")
        return value


@lru_cache(maxsize=8)
def _load(path: str) -> ModerationConfig:
    return ModerationConfig.model_validate(load_yaml(path))


def load_moderation_config(path: Path | str | None = None) -> ModerationConfig:
    """The review-queue configuration from ``path`` (default: the shipped ``moderation.yaml``)."""
    return _load(str(path) if path is not None else DEFAULT_FILE)

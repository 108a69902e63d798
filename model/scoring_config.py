"""Scoring runtime settings, read from ``configs/scoring.yaml`` and validated here."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from civility.model.resources import load_yaml


class WindowConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    overlap_tokens: int = Field(ge=0, description="tokens shared by consecutive windows of a long text")
    context_max_tokens: int = Field(ge=1, description="tokens of context kept when the model uses context")


class SpanConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label_floor: float = Field(ge=0, le=1, description="spans only for labels scoring at least this")
    min_drop: float = Field(
        ge=0, le=1, description="a word joins a span if removing it drops the score this much"
    )
    max_units: int = Field(ge=1, description="most words (or word groups, for long texts) occluded per text")


class LanguageConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seed: int = 0
    min_words_for_detector: int = Field(ge=1)
    english_stopword_ratio: float = Field(ge=0, le=1)
    english_min_probability: float = Field(ge=0, le=1)


class ScoringConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_chars: int = Field(gt=0, description="hard cap; longer text is truncated and marked truncated")
    batch_size: int = Field(gt=0)
    int8_batch_size: int = Field(
        gt=0, description="windows per call for int8 graphs (1 = scores independent of batch neighbours)"
    )
    serve_threads: int = Field(gt=0, description="onnxruntime intra-op threads when threads=None")
    windows: WindowConfig
    spans: SpanConfig
    language: LanguageConfig


@lru_cache(maxsize=4)
def load_scoring_config(path: Path | None = None) -> ScoringConfig:
    """The scoring settings (``configs/scoring.yaml`` unless a path is given)."""
    return ScoringConfig.model_validate(load_yaml(path or "scoring.yaml"))

"""Validated configuration for ``civility label``: ``configs/label.yaml`` and the lexicon files."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from civility.model.labels import label_ids
from civility.model.resources import load_yaml

HumanSource = Literal["moderator", "hand"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"invalid regular expression {value!r}: {exc}") from exc
    return value


def _known_labels(votes: dict[str, float]) -> dict[str, float]:
    unknown = sorted(set(votes) - set(label_ids()))
    if unknown:
        raise ValueError(f"unknown labels {unknown}; known: {label_ids()}")
    return votes


class ModelSourceConfig(_Strict):
    weight: float = Field(gt=0)


class RuleSourceConfig(_Strict):
    lexicon: str | None = Field(default=None, description="Lexicon YAML (words/patterns), configs-relative.")
    patterns: str | None = Field(default=None, description="Pattern YAML, configs-relative.")
    weight: float = Field(gt=0)
    votes: dict[str, float] = Field(min_length=1, description="Probability voted per label when it fires.")

    @field_validator("votes")
    @classmethod
    def _votes(cls, value: dict[str, float]) -> dict[str, float]:
        if any(not 0.0 <= p <= 1.0 for p in value.values()):
            raise ValueError("votes must be probabilities in [0, 1]")
        return _known_labels(value)

    @model_validator(mode="after")
    def _one_file(self) -> RuleSourceConfig:
        if (self.lexicon is None) == (self.patterns is None):
            raise ValueError("give exactly one of 'lexicon' or 'patterns'")
        return self

    @property
    def file(self) -> str:
        return self.lexicon or self.patterns or ""


class WeakSourcesConfig(_Strict):
    model: ModelSourceConfig | None = None
    profanity_lexicon: RuleSourceConfig | None = None
    slur_lexicon: RuleSourceConfig | None = None
    threat_patterns: RuleSourceConfig | None = None
    targeting_patterns: RuleSourceConfig | None = None

    def rules(self) -> dict[str, RuleSourceConfig]:
        named = {
            "profanity_lexicon": self.profanity_lexicon,
            "slur_lexicon": self.slur_lexicon,
            "threat_patterns": self.threat_patterns,
            "targeting_patterns": self.targeting_patterns,
        }
        return {name: rule for name, rule in named.items() if rule is not None}


class AbstainConfig(_Strict):
    min_letters: int = Field(ge=0)
    non_english: bool


class WeakConfig(_Strict):
    positive_at: float = Field(ge=0.0, le=1.0)
    negative_at: float = Field(ge=0.0, le=1.0)
    soft: bool
    min_sources: int = Field(ge=1)
    abstain: AbstainConfig
    sources: WeakSourcesConfig

    @model_validator(mode="after")
    def _ordered(self) -> WeakConfig:
        if self.negative_at >= self.positive_at:
            raise ValueError("negative_at must be below positive_at")
        return self


class IssuesConfig(_Strict):
    binarize_at: float = Field(gt=0.0, lt=1.0)
    min_per_class: int = Field(ge=1)
    filter_by: Literal[
        "prune_by_noise_rate", "prune_by_class", "both", "confident_learning", "predicted_neq_given"
    ]
    rank_by: Literal["self_confidence", "normalized_margin", "confidence_weighted_entropy"]


class MatchingConfig(_Strict):
    inflections: str
    negation_cues: str
    negation_window: int = Field(ge=0)
    clause_breaks: str
    quote_pairs: list[tuple[str, str]]

    @field_validator("inflections", "negation_cues", "clause_breaks")
    @classmethod
    def _valid(cls, value: str) -> str:
        return _regex(value)


class LabelConfig(_Strict):
    human_precedence: list[HumanSource] = Field(min_length=1)
    weak: WeakConfig
    issues: IssuesConfig
    matching: MatchingConfig


class LexiconFile(_Strict):
    """A lexicon or pattern file under ``configs/lexicons/``."""

    description: str = ""
    quoted: Literal["count", "ignore"] = Field(description="Whether matches inside quotation marks count.")
    negation: bool = Field(description="Whether a negation cue before or inside a match silences it.")
    lists: dict[str, str | list[str]] = Field(default_factory=dict)
    words: list[str] = Field(default_factory=list)
    patterns: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _something(self) -> LexiconFile:
        if not self.words and not self.patterns:
            raise ValueError("a lexicon needs 'words' or 'patterns'")
        return self


@lru_cache(maxsize=4)
def load_label_config(path: Path | None = None) -> LabelConfig:
    return LabelConfig.model_validate(load_yaml(path or "label.yaml"))


@lru_cache(maxsize=16)
def load_lexicon(relative: str) -> LexiconFile:
    return LexiconFile.model_validate(load_yaml(relative))

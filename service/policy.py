"""Moderation policy: scores + word lists -> allow | review | reject, with reasons.

Configured in ``configs/policy.yaml`` (or ``Settings.policy_file``): per-label review and
reject thresholds on calibrated probabilities, banned and suspect word lists matched after
the same normalisation the model uses, and per-site overrides.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from civility.model.labels import label_ids
from civility.model.resources import load_yaml

Action = Literal["allow", "review", "reject"]
ReasonCode = Literal["score_reject", "score_review", "banned_term", "suspect_term"]
_RANK: dict[str, int] = {"allow": 0, "review": 1, "reject": 2}


class PolicyError(ValueError):
    """The policy file is missing or invalid."""


class Thresholds(BaseModel):
    model_config = ConfigDict(extra="forbid")

    review: float | None = Field(default=None, ge=0, le=1)
    reject: float | None = Field(default=None, ge=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        if self.review is not None and self.reject is not None and self.reject < self.review:
            raise ValueError(f"reject ({self.reject}) must be >= review ({self.review})")
        return self


class SitePolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    thresholds: dict[str, Thresholds] = Field(default_factory=dict)
    banned: list[str] = Field(default_factory=list)
    suspect: list[str] = Field(default_factory=list)


class PolicyConfig(SitePolicy):
    sites: dict[str, SitePolicy] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known_labels(self) -> PolicyConfig:
        known = set(label_ids())
        tables = [("thresholds", self.thresholds)]
        tables += [(f"sites.{name}.thresholds", site.thresholds) for name, site in self.sites.items()]
        for where, table in tables:
            unknown = sorted(set(table) - known)
            if unknown:
                raise ValueError(f"{where}: unknown labels {unknown}; known labels: {sorted(known)}")
        return self


@dataclass(frozen=True)
class Reason:
    """Why a decision was taken; ``begin``/``end`` are offsets into the original text."""

    code: ReasonCode
    action: Action
    label: str | None = None
    score: float | None = None
    threshold: float | None = None
    term: str | None = None
    begin: int | None = None
    end: int | None = None

    @property
    def message(self) -> str:
        if self.code in ("score_reject", "score_review"):
            return f"{self.label} score {self.score:.2f} >= {self.action} threshold {self.threshold:.2f}"
        kind = "banned" if self.code == "banned_term" else "suspect"
        return f"contains {kind} term {self.term!r}"


@dataclass(frozen=True)
class Decision:
    action: Action
    reasons: list[Reason] = field(default_factory=list)


@dataclass(frozen=True)
class _Term:
    term: str
    pattern: re.Pattern[str]


def _fold(text: str) -> tuple[str, list[int]]:
    """Normalise like the model does, then casefold; returns text and original offsets."""
    from civility.model.normalize import normalize

    normalized = normalize(text)
    folded_chars: list[str] = []
    offsets: list[int] = []
    for char, origin in zip(normalized.text, normalized.offsets, strict=True):
        folded = char.casefold()
        folded_chars.append(folded)
        offsets.extend([origin] * len(folded))
    return "".join(folded_chars), offsets


def _compile(term: str) -> _Term:
    folded, _ = _fold(term)
    words = folded.split()
    if not words:
        raise PolicyError(f"empty word-list entry {term!r}")
    body = r"\W*".join(re.escape(word) for word in words)
    return _Term(term=term, pattern=re.compile(rf"(?<!\w){body}(?!\w)"))


class Policy:
    """Decides what to do with a scored comment."""

    def __init__(self, config: PolicyConfig) -> None:
        self.config = config

    @classmethod
    def load(cls, path: Path | None = None) -> Policy:
        source = path or "policy.yaml"
        try:
            data = load_yaml(source)
        except FileNotFoundError as exc:
            raise PolicyError(f"policy file not found: {source}") from exc
        try:
            return cls(PolicyConfig.model_validate(data or {}))
        except ValidationError as exc:
            raise PolicyError(f"invalid policy {source}: {exc}") from exc

    def thresholds(self, site: str | None = None) -> dict[str, Thresholds]:
        merged = dict(self.config.thresholds)
        override = self.config.sites.get(site) if site else None
        if override is not None:
            for label, value in override.thresholds.items():
                base = merged.get(label, Thresholds())
                merged[label] = Thresholds.model_validate(
                    base.model_dump() | value.model_dump(exclude_unset=True)
                )
        return merged

    @cached_property
    def _global_terms(self) -> tuple[list[_Term], list[_Term]]:
        return [_compile(t) for t in self.config.banned], [_compile(t) for t in self.config.suspect]

    def _terms(self, site: str | None) -> tuple[list[_Term], list[_Term]]:
        banned, suspect = self._global_terms
        override = self.config.sites.get(site) if site else None
        if override is None:
            return banned, suspect
        return banned + [_compile(t) for t in override.banned], suspect + [
            _compile(t) for t in override.suspect
        ]

    def match_terms(self, text: str, site: str | None = None) -> list[Reason]:
        banned, suspect = self._terms(site)
        if not banned and not suspect:
            return []
        folded, offsets = _fold(text)
        reasons: list[Reason] = []
        for terms, code, action in ((banned, "banned_term", "reject"), (suspect, "suspect_term", "review")):
            for term in terms:
                found = term.pattern.search(folded)
                if found is None:
                    continue
                begin = offsets[found.start()] if offsets else 0
                end = offsets[found.end() - 1] + 1 if offsets else len(text)
                reasons.append(Reason(code=code, action=action, term=term.term, begin=begin, end=end))  # type: ignore[arg-type]
        return reasons

    def decide(self, scores: Mapping[str, float], text: str, site: str | None = None) -> Decision:
        """Reject on a reject threshold or a banned term, review on review thresholds or suspect terms."""
        reasons: list[Reason] = []
        for label, limits in self.thresholds(site).items():
            score = scores.get(label)
            if score is None:
                continue
            if limits.reject is not None and score >= limits.reject:
                reasons.append(Reason("score_reject", "reject", label, score, limits.reject))
            elif limits.review is not None and score >= limits.review:
                reasons.append(Reason("score_review", "review", label, score, limits.review))
        reasons.extend(self.match_terms(text, site))
        action: Action = "allow"
        for reason in reasons:
            if _RANK[reason.action] > _RANK[action]:
                action = reason.action
        reasons.sort(key=lambda r: (-_RANK[r.action], -(r.score or 1.0)))
        return Decision(action=action, reasons=reasons)

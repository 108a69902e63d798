"""Weak label sources: the current model's calibrated scores, lexicons and patterns.

A source returns, per text, the labels it has an opinion on with a probability; a label it
does not mention is an abstention. Each source has a provenance name (``model:<ref>``,
``lexicon:profanity``, ``patterns:threats``) recorded with every label it contributes to.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from civility.training.labeling.matching import PhraseMatcher
from civility.training.labeling.settings import LabelConfig, RuleSourceConfig, load_lexicon

if TYPE_CHECKING:
    from civility.model.scorer import Scorer


class WeakSource(Protocol):
    name: str
    weight: float

    def votes(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """Per text, ``{label: probability}`` for the labels this source votes on."""
        ...


@dataclass
class RuleSource:
    """A lexicon or pattern file that votes fixed probabilities when it matches, else abstains."""

    name: str
    matcher: PhraseMatcher
    weight: float
    vote: dict[str, float]

    def votes(self, texts: Sequence[str]) -> list[dict[str, float]]:
        return [dict(self.vote) if self.matcher.fires(text) else {} for text in texts]


class ModelSource:
    """Calibrated probabilities of a model bundle (``civility.model.scorer.Scorer``) for every label."""

    def __init__(self, scorer: Scorer, weight: float) -> None:
        self.scorer = scorer
        self.weight = weight
        self.name = f"model:{scorer.ref}"

    def votes(self, texts: Sequence[str]) -> list[dict[str, float]]:
        if not texts:
            return []
        probabilities = self.scorer.predict_proba(list(texts))
        labels = list(self.scorer.labels)
        return [{label: float(row[i]) for i, label in enumerate(labels)} for row in probabilities]


def rule_source(name: str, rule: RuleSourceConfig, config: LabelConfig) -> RuleSource:
    kind = "lexicon" if rule.lexicon else "patterns"
    provenance = f"{kind}:{Path(rule.file).stem}"
    matcher = PhraseMatcher(provenance, load_lexicon(rule.file), config.matching)
    return RuleSource(provenance, matcher, rule.weight, dict(rule.votes))


def load_model_source(ref: str | None, config: LabelConfig) -> tuple[ModelSource | None, str | None]:
    """The model source, or ``(None, reason)`` when no bundle can be loaded (the source is skipped)."""
    if config.weak.sources.model is None:
        return None, "the model source is disabled in label.yaml"
    try:
        from civility.model.scorer import Scorer

        scorer = Scorer.load(ref)
    except Exception as exc:  # any failure to load a bundle means: label without the model
        return None, f"no model bundle available ({type(exc).__name__}: {exc})"
    return ModelSource(scorer, config.weak.sources.model.weight), None


def build_sources(
    config: LabelConfig, model_ref: str | None = None, use_model: bool = True
) -> tuple[list[WeakSource], list[str]]:
    """All configured weak sources, and warnings about the ones that had to be skipped."""
    sources: list[WeakSource] = []
    warnings: list[str] = []
    if use_model:
        model, reason = load_model_source(model_ref, config)
        if model is not None:
            sources.append(model)
        elif reason:
            warnings.append(f"model scores skipped: {reason}")
    for name, rule in config.weak.sources.rules().items():
        sources.append(rule_source(name, rule, config))
    return sources, warnings

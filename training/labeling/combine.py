"""Combining human and weak labels per label, with provenance.

For each comment and each label, in order (``configs/label.yaml``):

1. the human sources in ``human_precedence`` (moderator decisions, then hand labels): the
   first one that gives the label decides it;
2. otherwise the weak sources that vote on the label are combined as the weighted mean of their
   probabilities, and the result is emitted only when it is confident (``>= positive_at`` or
   ``<= negative_at``) and at least ``min_sources`` sources voted; otherwise the label is left
   out (missing, masked in training).

Weak sources are not consulted at all for comments that are too short or not English (the
``abstain`` rules). Each emitted label records where it came from: ``moderator``, ``hand``, or
the weak sources joined by ``+`` (``model:civility-default@1.0.0+lexicon:profanity``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from civility.model.language import detect_language
from civility.training.labeling.label_files import CommentToLabel, HumanLabels, LabelRecord
from civility.training.labeling.settings import LabelConfig
from civility.training.labeling.weak_sources import WeakSource


@dataclass
class LabelStats:
    comments: int = 0
    written: int = 0
    abstained_comments: int = 0  # no weak labels by the abstain rules
    by_origin: Counter[str] = field(default_factory=Counter)  # "moderator", "hand", "weak"
    by_label: Counter[str] = field(default_factory=Counter)


class Labeler:
    def __init__(
        self,
        config: LabelConfig,
        labels: Sequence[str],
        sources: Sequence[WeakSource],
        human: HumanLabels,
    ) -> None:
        self.config = config
        self.labels = list(labels)
        self.sources = list(sources)
        self.human = human

    def label(self, comments: Sequence[CommentToLabel]) -> tuple[list[LabelRecord], LabelStats]:
        stats = LabelStats(comments=len(comments))
        human = [self.human.lookup(c.id, c.text) for c in comments]
        needs_weak = [
            i
            for i, c in enumerate(comments)
            if any(not self._human_value(human[i], label) for label in self.labels)
        ]
        weak_ok = [i for i in needs_weak if not self._abstain(comments[i])]
        stats.abstained_comments = len(needs_weak) - len(weak_ok)
        texts = [comments[i].text for i in weak_ok]
        votes_by_source = [(source, source.votes(texts)) for source in self.sources]
        weak_votes: dict[int, list[tuple[WeakSource, dict[str, float]]]] = {
            i: [(source, votes[k]) for source, votes in votes_by_source] for k, i in enumerate(weak_ok)
        }
        records = []
        for i, comment in enumerate(comments):
            labels: dict[str, float] = {}
            provenance: dict[str, str] = {}
            for label in self.labels:
                decided = self._human_value(human[i], label) or self._weak_value(weak_votes.get(i, []), label)
                if decided is None:
                    continue
                labels[label], provenance[label] = decided
                stats.by_label[label] += 1
                origin = provenance[label] if provenance[label] in self.config.human_precedence else "weak"
                stats.by_origin[origin] += 1
            if not labels:
                continue
            records.append(
                LabelRecord(
                    id=comment.id,
                    text=comment.text,
                    labels=labels,
                    source=_record_source(provenance.values(), self.config.human_precedence),
                    context=comment.context,
                    provenance=provenance,
                )
            )
        stats.written = len(records)
        return records, stats

    def _human_value(self, human: dict[str, dict[str, float]], label: str) -> tuple[float, str] | None:
        for origin in self.config.human_precedence:
            value = human.get(origin, {}).get(label)
            if value is not None:
                return float(value), origin
        return None

    def _weak_value(
        self, votes: list[tuple[WeakSource, dict[str, float]]], label: str
    ) -> tuple[float, str] | None:
        voting = [(source, vote[label]) for source, vote in votes if label in vote]
        weak = self.config.weak
        if len(voting) < weak.min_sources:
            return None
        total = sum(source.weight for source, _ in voting)
        combined = sum(source.weight * p for source, p in voting) / total
        if weak.negative_at < combined < weak.positive_at:
            return None
        value = round(combined, 4) if weak.soft else float(combined >= weak.positive_at)
        return value, "+".join(source.name for source, _ in voting)

    def _abstain(self, comment: CommentToLabel) -> bool:
        rules = self.config.weak.abstain
        if sum(ch.isalpha() for ch in comment.text) < rules.min_letters:
            return True
        if rules.non_english:
            if comment.language is not None:
                return comment.language != "en"
            return not detect_language(comment.text).english
        return False


def _record_source(origins: Iterable[str], human: Sequence[str]) -> str:
    """The record's ``source``: its single origin (moderator, hand, weak), or ``mixed``."""
    kinds = {origin if origin in human else "weak" for origin in origins}
    return kinds.pop() if len(kinds) == 1 else "mixed"

"""View models for the moderator web page: what a queue card shows, ready for the templates."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from civility.model.labels import label_ids
from civility.service.moderation.config import ModerationConfig
from civility.service.moderation.highlight import Segment, segments
from civility.service.moderation.queue import QueueFilter
from civility.service.moderation.schemas import CommentOut, QueueCounts
from civility.service.moderation.webforms import LABEL_VALUES

HIGH, MEDIUM = 0.8, 0.5  # score-bar colour bands (display only)


def label_title(label: str) -> str:
    return label.replace("_", " ").capitalize()


def corrections_text(labels: dict[str, float] | None) -> str:
    """Corrected labels for display, in label order: ``Threat: yes, Insult: no`` (others as numbers)."""
    if not labels:
        return ""
    names = {value: name for name, value in LABEL_VALUES.items()}
    order = {label: index for index, label in enumerate(label_ids())}
    return ", ".join(
        f"{label_title(label)}: {names.get(score, f'{score:g}')}"
        for label, score in sorted(labels.items(), key=lambda item: order.get(item[0], len(order)))
    )


@dataclass(frozen=True)
class ScoreBar:
    label: str
    title: str
    score: float

    @property
    def percent(self) -> int:
        return round(self.score * 100)

    @property
    def level(self) -> str:
        return "high" if self.score >= HIGH else "medium" if self.score >= MEDIUM else "low"


@dataclass(frozen=True)
class CardView:
    comment: CommentOut
    segments: list[Segment]
    bars: list[ScoreBar]
    reasons: list[str]
    reason_title: str | None

    @property
    def can_undo(self) -> bool:
        return self.comment.moderated


def card_view(comment: CommentOut, config: ModerationConfig) -> CardView:
    order = label_ids()
    bars = [ScoreBar(label, label_title(label), comment.scores.get(label, 0.0)) for label in order]
    spans = (
        {label: [span.model_dump() for span in label_spans] for label, label_spans in comment.spans.items()}
        if comment.spans
        else None
    )
    reason = config.reject_reasons.get(comment.decision_reason or "")
    return CardView(
        comment=comment,
        segments=segments(comment.text, spans, comment.system_reasons),
        bars=bars,
        reasons=[str(r.get("message") or r.get("code")) for r in comment.system_reasons],
        reason_title=reason.title if reason else comment.decision_reason,
    )


@dataclass(frozen=True)
class Tab:
    queue: str
    title: str
    count: int
    url: str
    current: bool


def filter_params(flt: QueueFilter, **overrides: object) -> dict[str, str]:
    """The query string of a queue view (only the non-default parts)."""
    values: dict[str, object] = {
        "queue": flt.queue,
        "label": flt.label,
        "min_score": flt.min_score,
        "max_score": flt.max_score,
        "story_id": flt.story_id,
        "author_id": flt.author_id,
        "site": flt.site,
        "sort": flt.sort if flt.sort != "priority" else None,
        "offset": flt.offset or None,
        **overrides,
    }
    return {key: str(value) for key, value in values.items() if value not in (None, "")}


def queue_url(base: str, flt: QueueFilter, **overrides: object) -> str:
    params = filter_params(flt, **overrides)
    return f"{base}?{urlencode(params)}" if params else base


def tabs(base: str, flt: QueueFilter, counts: QueueCounts) -> list[Tab]:
    titles = {
        "pending": "Pending",
        "reported": "Reported",
        "approved": "Approved",
        "rejected": "Rejected",
        "all": "All",
    }
    return [
        Tab(
            queue,
            title,
            getattr(counts, queue),
            queue_url(base, flt, queue=queue, offset=None),
            queue == flt.queue,
        )
        for queue, title in titles.items()
    ]

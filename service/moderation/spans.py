"""Spans for held comments: which words drive each label, computed after the decision is returned.

Occlusion spans cost about ten model calls per comment, so the submission answers first and a
background task stores the spans a moment later (moderators see them on the card). Spans are
derived data: storing them does not change the comment's moderation ``version``.
"""

from __future__ import annotations

from typing import Any

import structlog
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from civility.service.batcher import ScoringModel
from civility.service.db.moderation import Comment, Status
from civility.service.moderation.config import SpanRules

log = structlog.get_logger("civility.moderation")


def span_labels(rules: SpanRules, scores: dict[str, float], status: Status) -> list[str]:
    """The labels worth explaining for a comment that ended up with ``status`` (may be empty)."""
    if rules.store_for == "none" or (rules.store_for == "held" and status == Status.approved):
        return []
    return [label for label, score in scores.items() if score >= rules.min_score]


def compute_spans(
    scorer: ScoringModel, text: str, labels: list[str], context: str | None
) -> dict[str, list[dict[str, Any]]] | None:
    [result] = scorer.score([text], spans=True, labels=labels, contexts=[context] if context else None)
    spans: dict[str, list[dict[str, Any]]] = {}
    for label, label_spans in (result.spans or {}).items():
        if label_spans:
            spans[label] = [
                {"begin": s.begin, "end": s.end, "score": round(float(s.score), 4), "text": s.text}
                for s in label_spans
            ]
    return spans or None


def store_spans(engine: Engine, scorer: ScoringModel, comment_id: int, labels: list[str]) -> None:
    """Compute and store the spans of a stored comment (run as a background task; never raises)."""
    try:
        with Session(engine) as session:
            row = session.execute(
                select(Comment.text, Comment.parent_id).where(Comment.id == comment_id)
            ).one_or_none()
            if row is None:
                return
            text, parent_id = row
            context = (
                session.scalar(select(Comment.text).where(Comment.client_id == parent_id))
                if parent_id
                else None
            )
            session.rollback()  # no transaction held while the model runs
            spans = compute_spans(scorer, text, labels, context)
            if spans is None:
                return
            session.execute(update(Comment).where(Comment.id == comment_id).values(spans=spans))
            session.commit()
    except Exception as exc:  # a missing explanation must never lose or break the comment
        log.warning("spans_failed", comment_id=comment_id, error=f"{type(exc).__name__}: {exc}")

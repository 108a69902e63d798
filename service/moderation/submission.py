"""The submission pipeline behind ``POST /v1/comments``.

validate -> idempotency check -> score -> policy (thresholds, word lists) -> author history
(rejection rate, new author, repeat post) -> spans for held comments -> store + audit row -> commit.
The comment is committed before the decision is returned; a retry with the same ``client_id`` and
payload returns the stored decision, a different payload under the same ``client_id`` is a 409.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from civility.service.batcher import ScoreResultLike, ScoringModel
from civility.service.db.base import utcnow
from civility.service.db.moderation import ActionKind, Comment, CommentScore, Status
from civility.service.moderation import audit
from civility.service.moderation.config import ModerationConfig
from civility.service.moderation.errors import EmptyText, IdempotencyConflict, TextTooLong
from civility.service.moderation.history import hold_reasons, text_fingerprint
from civility.service.moderation.priority import priority_of
from civility.service.moderation.schemas import CommentDecisionOut, CommentIn, ReasonOut
from civility.service.moderation.spans import span_labels

ACTION_TO_STATUS = {"allow": Status.approved, "review": Status.pending, "reject": Status.rejected}
STATUS_TO_ACTION = {status: action for action, status in ACTION_TO_STATUS.items()}


ScoreFn = Callable[[list[str], list[str | None] | None], Sequence[ScoreResultLike]]


class PolicyLike(Protocol):
    def decide(self, scores: Mapping[str, float], text: str, site: str | None = None) -> Any: ...


@dataclass(frozen=True)
class Pipeline:
    """Everything a submission needs besides the database session.

    ``score`` scores texts without spans; the HTTP route passes one that goes through the
    service's micro-batcher, other callers get ``scorer.score``. Spans always use ``scorer``.
    """

    scorer: ScoringModel
    policy: PolicyLike
    config: ModerationConfig
    max_text_chars: int
    privacy_mode: bool = False
    score: ScoreFn | None = None

    def score_texts(self, texts: list[str], contexts: list[str | None] | None) -> Sequence[ScoreResultLike]:
        if self.score is not None:
            return self.score(texts, contexts)
        return self.scorer.score(texts, contexts=contexts)


def payload_hash(payload: CommentIn) -> str:
    """Fingerprint of everything that defines the comment (used to tell retries from conflicts)."""
    body = payload.model_dump(mode="json", exclude={"do_not_store"})
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


def _reason_out(reason: Any) -> ReasonOut:
    """A policy ``Reason`` (code, action, label, score, threshold, term, offsets, message)."""
    fields = ("code", "message", "action", "label", "score", "threshold", "term", "begin", "end")
    return ReasonOut.model_validate({name: getattr(reason, name, None) for name in fields})


def _validate_text(text: str, max_chars: int) -> None:
    if not text.strip():
        raise EmptyText("the comment text is empty", field="text")
    if len(text) > max_chars:
        raise TextTooLong(
            f"the comment text has {len(text)} characters; the limit is {max_chars}",
            field="text",
            length=len(text),
            limit=max_chars,
        )


def _decision_out(comment: Comment, *, replayed: bool) -> CommentDecisionOut:
    return CommentDecisionOut(
        id=comment.id,
        client_id=comment.client_id,
        stored=True,
        replayed=replayed,
        status=comment.status,
        action=comment.system_action,
        reasons=[ReasonOut.model_validate(reason) for reason in comment.system_reasons],
        scores=comment.scores,
        model=comment.model_version,
        version=comment.version,
        language=comment.language,
        english=comment.english,
    )


def _replay(session: Session, payload: CommentIn, digest: str) -> CommentDecisionOut | None:
    existing = session.scalar(select(Comment).where(Comment.client_id == payload.client_id))
    if existing is None:
        return None
    if existing.payload_hash != digest:
        raise IdempotencyConflict(
            f"client_id {payload.client_id!r} was already submitted with a different comment",
            client_id=payload.client_id,
            id=existing.id,
        )
    return _decision_out(existing, replayed=True)


def _parent_context(session: Session, payload: CommentIn) -> str | None:
    if payload.parent_id is None:
        return None
    return session.scalar(select(Comment.text).where(Comment.client_id == payload.parent_id))


@dataclass(frozen=True)
class Submission:
    """The answer for the client, and the labels whose spans are still to be stored (after the answer)."""

    decision: CommentDecisionOut
    span_labels: list[str]


def submit_comment(
    session: Session, pipeline: Pipeline, payload: CommentIn, *, now: datetime | None = None
) -> Submission:
    """Score, decide and (unless doNotStore / privacy mode) store one comment; commits.

    Spans for a held comment are left to the caller (``Submission.span_labels``, see ``spans.store_spans``).
    """
    now = now or utcnow()
    _validate_text(payload.text, pipeline.max_text_chars)
    store = not (payload.do_not_store or pipeline.privacy_mode)
    digest = payload_hash(payload)
    if store and (replayed := _replay(session, payload, digest)) is not None:
        return Submission(replayed, [])

    parent_text = _parent_context(session, payload)
    contexts: list[str | None] | None = [parent_text] if parent_text else None
    [result] = pipeline.score_texts([payload.text], contexts)
    scores = {label: float(score) for label, score in result.scores.items()}
    decision = pipeline.policy.decide(scores, payload.text, payload.site)
    action = str(decision.action)
    reasons = [_reason_out(reason) for reason in decision.reasons]
    text_hash = text_fingerprint(payload.text)
    if action == "allow":
        held = hold_reasons(
            session, pipeline.config.author_history, author_id=payload.author_id, text_hash=text_hash, now=now
        )
        if held:
            action = "review"
            reasons.extend(held)
    status = ACTION_TO_STATUS[action]
    top_label = max(scores, key=lambda label: scores[label])
    if not store:
        session.rollback()
        not_stored = CommentDecisionOut(
            id=None,
            client_id=payload.client_id,
            stored=False,
            replayed=False,
            status=status.value,
            action=action,
            reasons=reasons,
            scores=scores,
            model=pipeline.scorer.ref,
            version=None,
            language=result.language,
            english=result.english,
        )
        return Submission(not_stored, [])

    comment = Comment(
        client_id=payload.client_id,
        payload_hash=digest,
        site=payload.site,
        story_id=payload.story_id,
        story_url=payload.story_url,
        parent_id=payload.parent_id,
        author_id=payload.author_id,
        author_name=payload.author_name,
        text=payload.text,
        text_hash=text_hash,
        created_at=payload.created_at or now,
        received_at=now,
        status=status.value,
        version=1,
        system_status=status.value,
        system_action=action,
        system_reasons=[reason.model_dump(exclude_none=True) for reason in reasons],
        model_version=pipeline.scorer.ref,
        scores=scores,
        spans=None,
        max_score=scores[top_label],
        top_label=top_label,
        language=result.language,
        english=bool(result.english),
        report_count=0,
        open_reports=0,
        priority=priority_of(scores[top_label], 0, pipeline.config.priority),
    )
    comment.label_scores = [
        CommentScore(label=label, score=score, flagged=bool(result.flagged.get(label, False)))
        for label, score in scores.items()
    ]
    session.add(comment)
    try:
        session.flush()
        audit.record(
            session,
            comment,
            action=ActionKind.submit,
            actor=audit.SYSTEM,
            before=None,
            explanation="; ".join(reason.message for reason in reasons) or None,
        )
        session.commit()
    except IntegrityError:
        # A concurrent request stored the same client_id first: answer as a retry would.
        session.rollback()
        replayed = _replay(session, payload, digest)
        if replayed is None:
            raise
        return Submission(replayed, [])
    return Submission(
        _decision_out(comment, replayed=False), span_labels(pipeline.config.spans, scores, status)
    )

"""Moderator decisions (approve / reject, single and bulk), undo, and reader reports.

Every change is an UPDATE guarded by the comment's ``version`` (optimistic concurrency: a
decision made on a stale view raises ``StaleVersion``, HTTP 409) plus an audit row, committed
together. Undo is a new action that restores the state before the latest decision still in
force; nothing is ever deleted.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from civility.service.db.base import utcnow
from civility.service.db.moderation import (
    DECISION_KINDS,
    ActionKind,
    Comment,
    CommentReport,
    ModerationAction,
    Status,
)
from civility.service.moderation import audit
from civility.service.moderation.audit import Actor
from civility.service.moderation.config import ModerationConfig
from civility.service.moderation.errors import (
    CommentNotFound,
    InvalidInput,
    ModerationError,
    NothingToUndo,
    StaleVersion,
    TooManyItems,
    UnknownReason,
)
from civility.service.moderation.schemas import (
    BulkDecisionIn,
    BulkDecisionOut,
    BulkResult,
    DecisionIn,
    ReportIn,
    ReportOut,
)


def _load(session: Session, comment_id: int) -> Comment:
    comment = session.get(Comment, comment_id)
    if comment is None:
        raise CommentNotFound(f"no comment with id {comment_id}", id=comment_id)
    return comment


def _check_version(comment: Comment, version: int) -> None:
    if comment.version != version:
        raise StaleVersion(
            f"comment {comment.id} is at version {comment.version}, not {version}: "
            "it changed since you loaded it; reload and decide again",
            id=comment.id,
            current_version=comment.version,
            current_status=comment.status,
        )


def _check_reason(config: ModerationConfig, decision: DecisionIn) -> None:
    if decision.action == "approve":
        if decision.reason_code is not None:
            raise InvalidInput("an approval takes no reason_code (use explanation)", field="reason_code")
        return
    if decision.reason_code is None:
        raise InvalidInput(
            "a rejection needs a reason_code",
            field="reason_code",
            allowed=sorted(config.reject_reasons),
        )
    reason = config.reject_reasons.get(decision.reason_code)
    if reason is None:
        raise UnknownReason(
            f"unknown reason code {decision.reason_code!r}",
            field="reason_code",
            allowed=sorted(config.reject_reasons),
        )
    if reason.explanation_required and not (decision.explanation or "").strip():
        raise InvalidInput(
            f"reason {decision.reason_code!r} needs an explanation (e.g. the legal ground)",
            field="explanation",
        )


def _apply(
    session: Session,
    comment: Comment,
    *,
    expected_version: int,
    values: dict[str, Any],
) -> None:
    """Compare-and-set: update the row only if it is still at ``expected_version``."""
    result = session.execute(
        update(Comment)
        .where(Comment.id == comment.id, Comment.version == expected_version)
        .values(version=Comment.version + 1, **values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        current = _load(session, comment.id)
        _check_version(current, expected_version)
        raise StaleVersion(
            f"comment {comment.id} changed concurrently; reload and decide again", id=comment.id
        )
    session.refresh(comment)


def decide(
    session: Session,
    config: ModerationConfig,
    comment_id: int,
    decision: DecisionIn,
    actor: Actor,
    *,
    now: datetime | None = None,
) -> Comment:
    """Approve or reject a comment; resolves its open reports; commits."""
    now = now or utcnow()
    _check_reason(config, decision)
    comment = _load(session, comment_id)
    _check_version(comment, decision.version)
    before = audit.snapshot(comment)
    status = Status.approved if decision.action == "approve" else Status.rejected
    _apply(
        session,
        comment,
        expected_version=decision.version,
        values={
            "status": status.value,
            "decided_by": actor.name,
            "decided_at": now,
            "decision_reason": decision.reason_code,
            "decision_explanation": decision.explanation,
            "corrected_labels": decision.labels,
            "open_reports": 0,
            "priority": Comment.max_score,
        },
    )
    row = audit.record(
        session,
        comment,
        action=ActionKind(decision.action),
        actor=actor,
        before=before,
        reason_code=decision.reason_code,
        explanation=decision.explanation,
        labels=decision.labels,
    )
    session.execute(
        update(CommentReport)
        .where(CommentReport.comment_id == comment.id, CommentReport.resolved_at.is_(None))
        .values(resolved_at=now, resolved_by=row.id)
    )
    session.commit()
    return comment


def _latest_decision_in_force(session: Session, comment_id: int) -> ModerationAction | None:
    undone = select(ModerationAction.undoes_id).where(
        ModerationAction.comment_id == comment_id, ModerationAction.undoes_id.is_not(None)
    )
    return session.scalar(
        select(ModerationAction)
        .where(
            ModerationAction.comment_id == comment_id,
            ModerationAction.action.in_([kind.value for kind in DECISION_KINDS]),
            ModerationAction.id.not_in(undone),
        )
        .order_by(ModerationAction.id.desc())
        .limit(1)
    )


def undo(
    session: Session,
    config: ModerationConfig,
    comment_id: int,
    *,
    version: int,
    actor: Actor,
    explanation: str | None = None,
    now: datetime | None = None,
) -> Comment:
    """Revert the latest decision still in force (a new audit action; reports it resolved reopen)."""
    comment = _load(session, comment_id)
    _check_version(comment, version)
    target = _latest_decision_in_force(session, comment_id)
    if target is None or target.before is None:
        raise NothingToUndo(f"comment {comment_id} has no moderator decision to undo", id=comment_id)
    restored = target.before
    before = audit.snapshot(comment)
    reopened = session.scalar(
        select(func.count())
        .select_from(CommentReport)
        .where(CommentReport.comment_id == comment_id, CommentReport.resolved_by == target.id)
    )
    open_reports = comment.open_reports + int(reopened or 0)
    restored_at = restored.get("decided_at")
    _apply(
        session,
        comment,
        expected_version=version,
        values={
            "status": restored["status"],
            "decided_by": restored.get("decided_by"),
            "decided_at": datetime.fromisoformat(restored_at) if restored_at else None,
            "decision_reason": restored.get("decision_reason"),
            "decision_explanation": restored.get("decision_explanation"),
            "corrected_labels": restored.get("corrected_labels"),
            "open_reports": open_reports,
            "priority": Comment.max_score + config.priority.report_weight * open_reports,
        },
    )
    session.execute(
        update(CommentReport)
        .where(CommentReport.comment_id == comment_id, CommentReport.resolved_by == target.id)
        .values(resolved_at=None, resolved_by=None)
    )
    audit.record(
        session,
        comment,
        action=ActionKind.undo,
        actor=actor,
        before=before,
        explanation=explanation,
        undoes_id=target.id,
    )
    session.commit()
    return comment


def decide_bulk(
    session: Session,
    config: ModerationConfig,
    bulk: BulkDecisionIn,
    actor: Actor,
    *,
    now: datetime | None = None,
) -> BulkDecisionOut:
    """Apply one decision to many comments; each item succeeds or fails (stale, missing) on its own."""
    if len(bulk.items) > config.bulk.max_items:
        raise TooManyItems(
            f"{len(bulk.items)} items; at most {config.bulk.max_items} per bulk decision",
            limit=config.bulk.max_items,
        )
    template = DecisionIn(
        action=bulk.action,
        version=1,
        reason_code=bulk.reason_code,
        explanation=bulk.explanation,
        labels=bulk.labels,
    )
    _check_reason(config, template)
    results: list[BulkResult] = []
    for item in bulk.items:
        decision = template.model_copy(update={"version": item.version})
        try:
            comment = decide(session, config, item.id, decision, actor, now=now)
        except ModerationError as error:
            session.rollback()
            results.append(BulkResult(id=item.id, ok=False, error=error.to_dict()))
            continue
        results.append(BulkResult(id=item.id, ok=True, status=comment.status, version=comment.version))
    applied = sum(result.ok for result in results)
    return BulkDecisionOut(applied=applied, failed=len(results) - applied, results=results)


def report(
    session: Session,
    config: ModerationConfig,
    comment_id: int,
    body: ReportIn,
    *,
    now: datetime | None = None,
) -> ReportOut:
    """Record a reader report: the comment enters the reported queue with a higher priority."""
    if body.reason not in config.report_reasons:
        raise UnknownReason(
            f"unknown report reason {body.reason!r}", field="reason", allowed=config.report_reasons
        )
    now = now or utcnow()
    comment = _load(session, comment_id)
    before = audit.snapshot(comment)
    session.execute(
        update(Comment)
        .where(Comment.id == comment_id)
        .values(
            report_count=Comment.report_count + 1,
            open_reports=Comment.open_reports + 1,
            priority=Comment.max_score + config.priority.report_weight * (Comment.open_reports + 1),
        )
        .execution_options(synchronize_session=False)
    )
    row = CommentReport(
        comment_id=comment_id,
        reason=body.reason,
        note=body.note,
        reporter_id=body.reporter_id,
        created_at=now,
    )
    session.add(row)
    session.flush()
    session.refresh(comment)
    audit.record(
        session,
        comment,
        action=ActionKind.report,
        actor=Actor(name=body.reporter_id or audit.READER.name, role=audit.READER.role),
        before=before,
        reason_code=body.reason,
        explanation=body.note,
    )
    session.commit()
    return ReportOut(
        id=row.id,
        comment_id=comment_id,
        reason=row.reason,
        open_reports=comment.open_reports,
        report_count=comment.report_count,
    )

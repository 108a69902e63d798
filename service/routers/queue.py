"""Moderator API: the queues, decisions (single, bulk, undo), audit trail, author history, label export."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from sqlalchemy import Engine

from civility.service.db.base import utcnow
from civility.service.deps import CurrentModerator, SessionDep
from civility.service.moderation import decisions
from civility.service.moderation.audit import Actor, audit_trail
from civility.service.moderation.deps import ModerationConfigDep
from civility.service.moderation.export import ExportWindow, iter_export_lines
from civility.service.moderation.history import author_history
from civility.service.moderation.queue import QueueFilter, comment_out, list_queue, queue_counts
from civility.service.moderation.schemas import (
    AuditEntry,
    AuthorHistoryOut,
    BulkDecisionIn,
    BulkDecisionOut,
    CommentOut,
    DecisionIn,
    Queue,
    QueueCounts,
    QueuePage,
    Sort,
    UndoIn,
)

router = APIRouter(prefix="/v1", tags=["moderation"])

ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such comment or author"},
    409: {"description": "Stale version (the comment changed since you loaded it) or nothing to undo"},
    422: {"description": "Invalid input"},
}


@router.get("/queue", response_model=QueuePage, summary="List a queue with filters, sort and pagination")
def queue(
    session: SessionDep,
    config: ModerationConfigDep,
    _moderator: CurrentModerator,
    queue: Queue = "pending",
    label: str | None = Query(default=None, description="Flagged for this label (or its score in the range)"),
    min_score: float | None = Query(default=None, ge=0.0, le=1.0),
    max_score: float | None = Query(default=None, ge=0.0, le=1.0),
    story_id: str | None = None,
    author_id: str | None = None,
    site: str | None = None,
    sort: Sort = "priority",
    limit: int | None = Query(default=None, ge=1),
    offset: int = Query(default=0, ge=0),
) -> QueuePage:
    return list_queue(
        session,
        config,
        QueueFilter(
            queue=queue,
            label=label,
            min_score=min_score,
            max_score=max_score,
            story_id=story_id,
            author_id=author_id,
            site=site,
            sort=sort,
            limit=limit,
            offset=offset,
        ),
    )


@router.get("/queue/counts", response_model=QueueCounts, summary="How many comments each queue holds")
def counts(
    session: SessionDep,
    _moderator: CurrentModerator,
    story_id: str | None = None,
    author_id: str | None = None,
    site: str | None = None,
) -> QueueCounts:
    return queue_counts(session, QueueFilter(story_id=story_id, author_id=author_id, site=site))


@router.get("/moderation/reasons", summary="Reject reason codes and report reasons moderators can use")
def reasons(config: ModerationConfigDep, _moderator: CurrentModerator) -> dict[str, object]:
    return {
        "reject_reasons": {code: reason.model_dump() for code, reason in config.reject_reasons.items()},
        "report_reasons": config.report_reasons,
    }


@router.post(
    "/comments/{comment_id}/decision",
    response_model=CommentOut,
    summary="Approve or reject (with a reason code, explanation and corrected labels)",
    responses=ERRORS,
)
def decide(
    comment_id: int,
    body: DecisionIn,
    session: SessionDep,
    config: ModerationConfigDep,
    moderator: CurrentModerator,
) -> CommentOut:
    return comment_out(decisions.decide(session, config, comment_id, body, Actor.of(moderator)))


@router.post(
    "/comments/{comment_id}/undo",
    response_model=CommentOut,
    summary="Undo the latest decision still in force (recorded as a new action)",
    responses=ERRORS,
)
def undo(
    comment_id: int,
    body: UndoIn,
    session: SessionDep,
    config: ModerationConfigDep,
    moderator: CurrentModerator,
) -> CommentOut:
    comment = decisions.undo(
        session,
        config,
        comment_id,
        version=body.version,
        actor=Actor.of(moderator),
        explanation=body.explanation,
    )
    return comment_out(comment)


@router.post(
    "/decisions/bulk",
    response_model=BulkDecisionOut,
    summary="Apply one decision to many comments; each item succeeds or fails on its own",
    responses={422: ERRORS[422]},
)
def bulk(
    body: BulkDecisionIn,
    session: SessionDep,
    config: ModerationConfigDep,
    moderator: CurrentModerator,
) -> BulkDecisionOut:
    return decisions.decide_bulk(session, config, body, Actor.of(moderator))


@router.get(
    "/comments/{comment_id}/audit",
    response_model=list[AuditEntry],
    summary="Every action on a comment: who, when, before, after, reason",
    responses={404: ERRORS[404]},
)
def audit(comment_id: int, session: SessionDep, _moderator: CurrentModerator) -> list[AuditEntry]:
    return audit_trail(session, comment_id)


@router.get(
    "/authors/{author_id}",
    response_model=AuthorHistoryOut,
    summary="An author's history: counts, recent rejection rate, recent decisions",
    responses={404: ERRORS[404]},
)
def author(
    author_id: str, session: SessionDep, config: ModerationConfigDep, _moderator: CurrentModerator
) -> AuthorHistoryOut:
    return author_history(session, config.author_history, author_id, now=utcnow())


@router.get(
    "/export/labels",
    summary="Moderator decisions as labelled training data (JSONL, streamed)",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/x-ndjson": {}}}, 422: ERRORS[422]},
)
def export_labels(
    session: SessionDep,
    config: ModerationConfigDep,
    _moderator: CurrentModerator,
    since: datetime | None = Query(default=None, description="Decided at or after (ISO 8601 with offset)"),
    until: datetime | None = Query(default=None, description="Decided before (ISO 8601 with offset)"),
) -> StreamingResponse:
    window = ExportWindow(since=since, until=until).validate()
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    return StreamingResponse(
        iter_export_lines(engine, config, window),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": 'attachment; filename="civility-moderator-labels.jsonl"'},
    )

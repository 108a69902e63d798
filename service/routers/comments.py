"""``/v1/comments``: submit comments for moderation, look them up, and relay reader reports."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, BackgroundTasks, Query, Request, Response, status

from civility.service.deps import CurrentModerator, CurrentScorer, SessionDep
from civility.service.moderation.decisions import report
from civility.service.moderation.deps import ModerationConfigDep, PipelineDep
from civility.service.moderation.queue import comment_out, find_by_client_id, get_comment
from civility.service.moderation.schemas import CommentDecisionOut, CommentIn, CommentOut, ReportIn, ReportOut
from civility.service.moderation.spans import store_spans
from civility.service.moderation.submission import submit_comment

router = APIRouter(prefix="/v1/comments", tags=["comments"])

ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such comment"},
    409: {"description": "client_id already used for a different comment"},
    422: {"description": "Invalid input (empty text, text too long, unknown reason, ...)"},
}


@router.post(
    "",
    response_model=CommentDecisionOut,
    status_code=status.HTTP_201_CREATED,
    summary="Submit a comment: score it, apply the policy and author history, store it, return the decision",
    responses={200: {"description": "Replay: client_id stored before with the same payload"}, **ERRORS},
)
def submit(
    body: CommentIn,
    request: Request,
    response: Response,
    background: BackgroundTasks,
    session: SessionDep,
    pipeline: PipelineDep,
    _caller: CurrentScorer,
) -> CommentDecisionOut:
    submission = submit_comment(session, pipeline, body)
    decision = submission.decision
    if decision.replayed:
        response.status_code = status.HTTP_200_OK
    if submission.span_labels and decision.id is not None:
        background.add_task(
            store_spans, request.app.state.engine, pipeline.scorer, decision.id, submission.span_labels
        )
    return decision


@router.get(
    "",
    response_model=CommentOut,
    summary="Look a comment up by the client's id",
    responses=ERRORS,
)
def lookup(
    session: SessionDep,
    _moderator: CurrentModerator,
    client_id: str = Query(min_length=1, max_length=200),
) -> CommentOut:
    return comment_out(find_by_client_id(session, client_id))


@router.get("/{comment_id}", response_model=CommentOut, summary="One comment", responses=ERRORS)
def read(comment_id: int, session: SessionDep, _moderator: CurrentModerator) -> CommentOut:
    return comment_out(get_comment(session, comment_id))


@router.post(
    "/{comment_id}/reports",
    response_model=ReportOut,
    status_code=status.HTTP_201_CREATED,
    summary="A reader reported the comment (it enters the reported queue)",
    responses=ERRORS,
)
def add_report(
    comment_id: int, body: ReportIn, session: SessionDep, config: ModerationConfigDep, _caller: CurrentScorer
) -> ReportOut:
    return report(session, config, comment_id, body)

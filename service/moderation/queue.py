"""Queue queries: pending / reported / approved / rejected / all, with filters, sort and pagination."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, select
from sqlalchemy.orm import Session

from civility.model.labels import label_ids
from civility.service.db.moderation import Comment, CommentScore, Status
from civility.service.moderation.config import ModerationConfig
from civility.service.moderation.errors import CommentNotFound, InvalidInput, ensure_searchable
from civility.service.moderation.schemas import CommentOut, Queue, QueueCounts, QueuePage, Sort

QUEUES: tuple[Queue, ...] = ("pending", "reported", "approved", "rejected", "all")
SORTS: tuple[Sort, ...] = ("priority", "score", "newest", "oldest")


@dataclass(frozen=True)
class QueueFilter:
    """What a moderator asked to see. ``label`` alone means "flagged for that label";
    with ``min_score``/``max_score`` it means "that label's score in the range";
    a range without a label applies to the highest label score."""

    queue: Queue = "pending"
    label: str | None = None
    min_score: float | None = None
    max_score: float | None = None
    story_id: str | None = None
    author_id: str | None = None
    site: str | None = None
    sort: Sort = "priority"
    limit: int | None = None
    offset: int = 0

    def validate(self, config: ModerationConfig) -> QueueFilter:
        if self.queue not in QUEUES:
            raise InvalidInput(f"unknown queue {self.queue!r}", field="queue", allowed=list(QUEUES))
        if self.sort not in SORTS:
            raise InvalidInput(f"unknown sort {self.sort!r}", field="sort", allowed=list(SORTS))
        if self.label is not None and self.label not in label_ids():
            raise InvalidInput(f"unknown label {self.label!r}", field="label", allowed=label_ids())
        for name in ("min_score", "max_score"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise InvalidInput(f"{name} must be between 0 and 1", field=name)
        if self.min_score is not None and self.max_score is not None and self.min_score > self.max_score:
            raise InvalidInput("min_score is greater than max_score", field="min_score")
        for name in ("label", "story_id", "author_id", "site"):
            ensure_searchable(getattr(self, name), name)
        if self.offset < 0:
            raise InvalidInput("offset must be >= 0", field="offset")
        limit = self.limit if self.limit is not None else config.pagination.default_limit
        if not 1 <= limit <= config.pagination.max_limit:
            raise InvalidInput(f"limit must be between 1 and {config.pagination.max_limit}", field="limit")
        return QueueFilter(**{**self.__dict__, "limit": limit})


def queue_condition(queue: Queue) -> ColumnElement[bool] | None:
    if queue == "reported":
        return Comment.open_reports > 0
    if queue == "all":
        return None
    return Comment.status == Status(queue).value


def _filtered(query: Select[Any], flt: QueueFilter, *, with_queue: bool = True) -> Select[Any]:
    conditions: list[ColumnElement[bool]] = []
    if with_queue and (condition := queue_condition(flt.queue)) is not None:
        conditions.append(condition)
    if flt.story_id is not None:
        conditions.append(Comment.story_id == flt.story_id)
    if flt.author_id is not None:
        conditions.append(Comment.author_id == flt.author_id)
    if flt.site is not None:
        conditions.append(Comment.site == flt.site)
    if flt.label is not None:
        query = query.join(
            CommentScore, and_(CommentScore.comment_id == Comment.id, CommentScore.label == flt.label)
        )
        if flt.min_score is None and flt.max_score is None:
            conditions.append(CommentScore.flagged.is_(True))
        score_column: Any = CommentScore.score
    else:
        score_column = Comment.max_score
    if flt.min_score is not None:
        conditions.append(score_column >= flt.min_score)
    if flt.max_score is not None:
        conditions.append(score_column <= flt.max_score)
    return query.where(*conditions) if conditions else query


def _ordering(flt: QueueFilter) -> list[Any]:
    if flt.sort == "priority":
        return [Comment.priority.desc(), Comment.received_at.desc(), Comment.id.desc()]
    if flt.sort == "score":
        score = CommentScore.score if flt.label is not None else Comment.max_score
        return [score.desc(), Comment.id.desc()]
    if flt.sort == "oldest":
        return [Comment.received_at.asc(), Comment.id.asc()]
    return [Comment.received_at.desc(), Comment.id.desc()]


def comment_out(comment: Comment) -> CommentOut:
    fields = {name: getattr(comment, name) for name in CommentOut.model_fields}
    return CommentOut.model_validate(fields)


def list_queue(session: Session, config: ModerationConfig, flt: QueueFilter) -> QueuePage:
    flt = flt.validate(config)
    assert flt.limit is not None
    total = session.scalar(_filtered(select(func.count(Comment.id)), flt)) or 0
    rows = session.scalars(
        _filtered(select(Comment), flt).order_by(*_ordering(flt)).limit(flt.limit).offset(flt.offset)
    ).all()
    next_offset = flt.offset + len(rows) if flt.offset + len(rows) < total else None
    return QueuePage(
        queue=flt.queue,
        total=total,
        limit=flt.limit,
        offset=flt.offset,
        next_offset=next_offset,
        items=[comment_out(row) for row in rows],
    )


def queue_counts(session: Session, flt: QueueFilter | None = None) -> QueueCounts:
    """How many comments each queue holds (with the same filters, ignoring the queue itself)."""
    flt = flt or QueueFilter()
    counts: dict[str, int] = {}
    for queue in QUEUES:
        query = _filtered(select(func.count(Comment.id)), flt, with_queue=False)
        condition = queue_condition(queue)
        if condition is not None:
            query = query.where(condition)
        counts[queue] = session.scalar(query) or 0
    return QueueCounts(**counts)


def get_comment(session: Session, comment_id: int) -> Comment:
    comment = session.get(Comment, comment_id)
    if comment is None:
        raise CommentNotFound(f"no comment with id {comment_id}", id=comment_id)
    return comment


def find_by_client_id(session: Session, client_id: str) -> Comment:
    ensure_searchable(client_id, "client_id")
    comment = session.scalar(select(Comment).where(Comment.client_id == client_id))
    if comment is None:
        raise CommentNotFound(f"no comment with client_id {client_id!r}", client_id=client_id)
    return comment

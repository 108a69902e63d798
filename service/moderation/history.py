"""Author history: counts and recent decisions per author, and the submission rules built on them."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from civility.service.db.moderation import Comment, CommentReport, Status
from civility.service.moderation.config import AuthorHistoryRules
from civility.service.moderation.errors import AuthorNotFound, ensure_searchable
from civility.service.moderation.schemas import AuthorDecision, AuthorHistoryOut, ReasonOut

_WHITESPACE = re.compile(r"\s+")
EXCERPT_CHARS = 160


def text_fingerprint(text: str) -> str:
    """Hash of the text after NFKC, case folding and whitespace collapsing (for repeat-post detection)."""
    canonical = _WHITESPACE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _status_counts(session: Session, author_id: str, since: datetime | None = None) -> dict[str, int]:
    query = select(Comment.status, func.count()).where(Comment.author_id == author_id)
    if since is not None:
        query = query.where(Comment.received_at >= since)
    rows = session.execute(query.group_by(Comment.status)).all()
    return {str(status): int(count) for status, count in rows}


def hold_reasons(
    session: Session, rules: AuthorHistoryRules, *, author_id: str, text_hash: str, now: datetime
) -> list[ReasonOut]:
    """Reasons, from the author's history, to hold a comment for review (empty: no objection)."""
    reasons: list[ReasonOut] = []
    if rules.premoderate_first > 0:
        previous = session.scalar(select(func.count()).where(Comment.author_id == author_id)) or 0
        if previous < rules.premoderate_first:
            reasons.append(
                ReasonOut(
                    code="new_author",
                    message=f"new author: comment {previous + 1} of the first "
                    f"{rules.premoderate_first} is pre-moderated",
                )
            )
    recent = _status_counts(session, author_id, since=now - timedelta(days=rules.window_days))
    decided = recent.get(Status.approved, 0) + recent.get(Status.rejected, 0)
    if decided >= rules.min_decided:
        rate = recent.get(Status.rejected, 0) / decided
        if rate > rules.max_rejection_rate:
            reasons.append(
                ReasonOut(
                    code="author_rejection_rate",
                    message=f"the author's recent rejection rate is {rate:.0%} "
                    f"(over {rules.max_rejection_rate:.0%}, last {rules.window_days} days)",
                    score=round(rate, 4),
                )
            )
    if rules.duplicate_window_hours > 0:
        since = now - timedelta(hours=rules.duplicate_window_hours)
        duplicate = session.scalar(
            select(Comment.id)
            .where(
                Comment.author_id == author_id,
                Comment.text_hash == text_hash,
                Comment.received_at >= since,
            )
            .limit(1)
        )
        if duplicate is not None:
            reasons.append(
                ReasonOut(
                    code="repeat_post",
                    message=f"the author posted the same text within {rules.duplicate_window_hours:g} hours "
                    f"(comment {duplicate})",
                )
            )
    return reasons


def author_history(
    session: Session, rules: AuthorHistoryRules, author_id: str, *, now: datetime
) -> AuthorHistoryOut:
    """Counts, recent rejection rate and recent decisions for one author."""
    ensure_searchable(author_id, "author_id")
    totals = _status_counts(session, author_id)
    if not totals:
        raise AuthorNotFound(f"no comments from author {author_id!r}", author_id=author_id)
    recent = _status_counts(session, author_id, since=now - timedelta(days=rules.window_days))
    recent_rejected = recent.get(Status.rejected, 0)
    recent_decided = recent.get(Status.approved, 0) + recent_rejected
    first_seen, last_seen = session.execute(
        select(func.min(Comment.received_at), func.max(Comment.received_at)).where(
            Comment.author_id == author_id
        )
    ).one()
    latest = session.execute(
        select(Comment.author_name)
        .where(Comment.author_id == author_id)
        .order_by(Comment.received_at.desc(), Comment.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    reports = session.scalar(
        select(func.count())
        .select_from(CommentReport)
        .join(Comment, Comment.id == CommentReport.comment_id)
        .where(Comment.author_id == author_id)
    )
    rows = session.scalars(
        select(Comment)
        .where(Comment.author_id == author_id)
        .order_by(Comment.received_at.desc(), Comment.id.desc())
        .limit(rules.recent_decisions)
    )
    recent_rows = [
        AuthorDecision(
            comment_id=row.id,
            client_id=row.client_id,
            story_id=row.story_id,
            status=row.status,
            decided_by=row.decided_by,
            decided_at=row.decided_at,
            decision_reason=row.decision_reason,
            received_at=row.received_at,
            excerpt=row.text[:EXCERPT_CHARS],
        )
        for row in rows
    ]
    return AuthorHistoryOut(
        author_id=author_id,
        author_name=latest,
        total=sum(totals.values()),
        approved=totals.get(Status.approved, 0),
        pending=totals.get(Status.pending, 0),
        rejected=totals.get(Status.rejected, 0),
        reports=int(reports or 0),
        recent_window_days=rules.window_days,
        recent_decided=recent_decided,
        recent_rejected=recent_rejected,
        rejection_rate=(recent_rejected / recent_decided) if recent_decided else None,
        first_seen=first_seen,
        last_seen=last_seen,
        recent=recent_rows,
    )

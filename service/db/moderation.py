"""Review-queue tables: comments, their per-label scores, reader reports and the audit trail.

A comment row holds the *current* moderation state; every change to it is also written as a
``ModerationAction`` row (who, when, before, after, reason), so the history is never lost.
``Comment.version`` is bumped on every state change and guards decisions against stale views
(optimistic concurrency).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from civility.service.db.base import Base, UTCDateTime, utcnow


class Status(StrEnum):
    approved = "approved"
    pending = "pending"
    rejected = "rejected"


class ActionKind(StrEnum):
    submit = "submit"  # the system's automatic decision when the comment arrived
    report = "report"  # a reader report
    approve = "approve"  # a moderator decision
    reject = "reject"  # a moderator decision
    undo = "undo"  # a moderator reverting their (or someone's) latest decision


DECISION_KINDS = (ActionKind.approve, ActionKind.reject)


class Comment(Base):
    __tablename__ = "comments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(200), unique=True)
    payload_hash: Mapped[str] = mapped_column(String(64))
    site: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)
    story_id: Mapped[str] = mapped_column(String(200), index=True)
    story_url: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    parent_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    author_id: Mapped[str] = mapped_column(String(200))
    author_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    text: Mapped[str] = mapped_column(Text)
    text_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)

    # current state
    status: Mapped[str] = mapped_column(String(16), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    decided_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True, index=True)
    decision_reason: Mapped[str | None] = mapped_column(String(40), nullable=True)
    decision_explanation: Mapped[str | None] = mapped_column(Text, nullable=True)
    corrected_labels: Mapped[dict[str, float] | None] = mapped_column(JSON, nullable=True)

    # the automatic decision at submission
    system_status: Mapped[str] = mapped_column(String(16))
    system_action: Mapped[str] = mapped_column(String(16))
    system_reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    model_version: Mapped[str] = mapped_column(String(200))
    scores: Mapped[dict[str, float]] = mapped_column(JSON)
    spans: Mapped[dict[str, list[dict[str, Any]]] | None] = mapped_column(JSON, nullable=True)
    max_score: Mapped[float] = mapped_column(Float, index=True)
    top_label: Mapped[str] = mapped_column(String(40))
    language: Mapped[str | None] = mapped_column(String(16), nullable=True)
    english: Mapped[bool] = mapped_column(Boolean, default=True)

    # reader reports
    report_count: Mapped[int] = mapped_column(Integer, default=0)
    open_reports: Mapped[int] = mapped_column(Integer, default=0, index=True)
    priority: Mapped[float] = mapped_column(Float, index=True)

    label_scores: Mapped[list[CommentScore]] = relationship(
        back_populates="comment", cascade="all, delete-orphan", lazy="raise"
    )

    __table_args__ = (
        Index("ix_comments_author_id_received_at", "author_id", "received_at"),
        Index("ix_comments_author_id_text_hash", "author_id", "text_hash"),
    )

    @property
    def moderated(self) -> bool:
        return self.decided_by is not None


class CommentScore(Base):
    """One row per (comment, label): lets the queue filter and sort by a label's score portably."""

    __tablename__ = "comment_scores"

    comment_id: Mapped[int] = mapped_column(ForeignKey("comments.id", ondelete="CASCADE"), primary_key=True)
    label: Mapped[str] = mapped_column(String(40), primary_key=True)
    score: Mapped[float] = mapped_column(Float)
    flagged: Mapped[bool] = mapped_column(Boolean)

    comment: Mapped[Comment] = relationship(back_populates="label_scores", lazy="raise")

    __table_args__ = (Index("ix_comment_scores_label_score", "label", "score"),)


class CommentReport(Base):
    __tablename__ = "comment_reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    comment_id: Mapped[int] = mapped_column(ForeignKey("comments.id", ondelete="CASCADE"), index=True)
    reason: Mapped[str] = mapped_column(String(40))
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    reporter_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    resolved_by: Mapped[int | None] = mapped_column(
        ForeignKey("moderation_actions.id"), nullable=True, index=True
    )


class ModerationAction(Base):
    """The audit trail: one row per change to a comment's moderation state. Never updated or deleted."""

    __tablename__ = "moderation_actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    comment_id: Mapped[int] = mapped_column(ForeignKey("comments.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    action: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(200))
    actor_role: Mapped[str] = mapped_column(String(20))
    actor_key_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    after: Mapped[dict[str, Any]] = mapped_column(JSON)
    reason_code: Mapped[str | None] = mapped_column(String(40), nullable=True)
    explanation: Mapped[str | None] = mapped_column(Text, nullable=True)
    labels: Mapped[dict[str, float] | None] = mapped_column(JSON, nullable=True)
    undoes_id: Mapped[int | None] = mapped_column(
        ForeignKey("moderation_actions.id"), nullable=True, unique=True
    )


class ModeratorAccount(Base):
    """A username/password login for the moderator web page, created by an admin.

    Only a salted scrypt hash of the password is stored.
    """

    __tablename__ = "moderator_accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(300))
    role: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

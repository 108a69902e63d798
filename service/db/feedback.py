"""Feedback labels: corrected scores sent by clients (Perspective ``comments:suggestscore``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from civility.service.db.base import Base, UTCDateTime, utcnow


class Feedback(Base):
    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    source: Mapped[str] = mapped_column(String(40))
    key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"), nullable=True)
    text: Mapped[str] = mapped_column(Text)
    labels: Mapped[dict[str, float]] = mapped_column(JSON)
    context: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    languages: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    community_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    client_token: Mapped[str | None] = mapped_column(String(200), nullable=True)
    model: Mapped[str | None] = mapped_column(String(200), nullable=True)


def add_feedback(
    session: Session,
    *,
    source: str,
    text: str,
    labels: dict[str, float],
    key_id: int | None = None,
    context: dict[str, Any] | None = None,
    languages: list[str] | None = None,
    community_id: str | None = None,
    client_token: str | None = None,
    model: str | None = None,
) -> Feedback:
    row = Feedback(
        source=source,
        text=text,
        labels=labels,
        key_id=key_id,
        context=context,
        languages=languages,
        community_id=community_id,
        client_token=client_token,
        model=model,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    return row


def list_feedback(session: Session, *, limit: int = 1000) -> list[Feedback]:
    return list(session.scalars(select(Feedback).order_by(Feedback.id).limit(limit)))

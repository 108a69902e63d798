"""Moderator decisions as labelled training data (the hand/moderator label JSONL format).

One line per comment whose current state is a moderator decision:
``{"id", "text", "labels": {label: 0..1}, "source": "moderator", "context": optional parent text}``.
Approved -> every label 0. Rejected -> the reason code's labels from ``moderation.yaml`` (labels it
does not name stay missing, i.e. unknown). Corrected labels given with the decision win. A rejection
whose reason maps to no label (spam, off topic) and has no corrections says nothing about the
labels and is skipped. Comments sent with doNotStore / privacy mode were never stored, so never appear.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from civility.model.labels import label_ids
from civility.service.db.moderation import Comment, Status
from civility.service.moderation.config import ModerationConfig
from civility.service.moderation.errors import InvalidInput

SOURCE = "moderator"
BATCH_ROWS = 500


@dataclass(frozen=True)
class ExportWindow:
    """Decisions made in ``[since, until)`` (either end optional)."""

    since: datetime | None = None
    until: datetime | None = None

    def validate(self) -> ExportWindow:
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise InvalidInput(f"{name} needs a UTC offset (e.g. 2026-11-22T00:00:00Z)", field=name)
        if self.since and self.until and self.since >= self.until:
            raise InvalidInput("since must be before until", field="since")
        return self


def labels_for(comment: Comment, config: ModerationConfig) -> dict[str, float]:
    """Training labels implied by the moderator's decision on ``comment``."""
    labels: dict[str, float] = {}
    if comment.status == Status.approved:
        labels = dict.fromkeys(label_ids(), 0.0)
    elif comment.status == Status.rejected:
        reason = config.reject_reasons.get(comment.decision_reason or "")
        labels = {label: float(value) for label, value in (reason.labels if reason else {}).items()}
    labels.update({label: float(value) for label, value in (comment.corrected_labels or {}).items()})
    return labels


def export_record(
    comment: Comment, config: ModerationConfig, parent_text: str | None
) -> dict[str, Any] | None:
    labels = labels_for(comment, config)
    if not labels:
        return None
    record: dict[str, Any] = {
        "id": f"civility:{comment.client_id}",
        "text": comment.text,
        "labels": labels,
        "source": SOURCE,
    }
    if parent_text:
        record["context"] = parent_text
    return record


def iter_export_lines(engine: Engine, config: ModerationConfig, window: ExportWindow) -> Iterator[str]:
    """JSONL lines, read in batches by id with short-lived sessions (safe to stream over HTTP)."""
    window = window.validate()
    last_id = 0
    while True:
        with Session(engine) as session:
            query = select(Comment).where(
                Comment.id > last_id,
                Comment.decided_by.is_not(None),
                Comment.status.in_([Status.approved.value, Status.rejected.value]),
            )
            if window.since is not None:
                query = query.where(Comment.decided_at >= window.since)
            if window.until is not None:
                query = query.where(Comment.decided_at < window.until)
            rows = session.scalars(query.order_by(Comment.id).limit(BATCH_ROWS)).all()
            if not rows:
                return
            parent_ids = {row.parent_id for row in rows if row.parent_id}
            parents: dict[str, str] = {}
            if parent_ids:
                query_parents = select(Comment.client_id, Comment.text).where(
                    Comment.client_id.in_(parent_ids)
                )
                parents = {client_id: text for client_id, text in session.execute(query_parents)}
            for row in rows:
                record = export_record(row, config, parents.get(row.parent_id or ""))
                if record is not None:
                    yield json.dumps(record, ensure_ascii=False) + "\n"
            last_id = rows[-1].id

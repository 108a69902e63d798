"""The audit trail: every change to a comment's moderation state is one ``ModerationAction`` row."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from civility.service.db.base import utcnow
from civility.service.db.moderation import ActionKind, Comment, ModerationAction
from civility.service.moderation.errors import CommentNotFound
from civility.service.moderation.schemas import AuditEntry


class PrincipalLike(Protocol):
    """What the auth layer hands us (``CurrentModerator``): a key id, a name and a role."""

    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> int | None: ...

    @property
    def role(self) -> Any: ...


@dataclass(frozen=True)
class Actor:
    """Who did something, as written to the audit trail."""

    name: str
    role: str
    key_id: int | None = None

    @classmethod
    def of(cls, principal: PrincipalLike) -> Actor:
        role = principal.role
        role_name = getattr(role, "name", None) or str(role)
        return cls(name=principal.name, role=role_name, key_id=principal.key_id)


SYSTEM = Actor(name="system", role="system")
READER = Actor(name="reader", role="reader")


def snapshot(comment: Comment) -> dict[str, Any]:
    """The moderation state of ``comment`` (what an undo restores)."""
    return {
        "status": comment.status,
        "version": comment.version,
        "decided_by": comment.decided_by,
        "decided_at": comment.decided_at.isoformat() if comment.decided_at else None,
        "decision_reason": comment.decision_reason,
        "decision_explanation": comment.decision_explanation,
        "corrected_labels": comment.corrected_labels,
        "open_reports": comment.open_reports,
    }


def record(
    session: Session,
    comment: Comment,
    *,
    action: ActionKind,
    actor: Actor,
    before: dict[str, Any] | None,
    reason_code: str | None = None,
    explanation: str | None = None,
    labels: dict[str, float] | None = None,
    undoes_id: int | None = None,
) -> ModerationAction:
    """Append an audit row describing ``comment`` after the change (the caller commits)."""
    row = ModerationAction(
        comment_id=comment.id,
        created_at=utcnow(),
        action=action.value,
        actor=actor.name,
        actor_role=actor.role,
        actor_key_id=actor.key_id,
        before=before,
        after=snapshot(comment),
        reason_code=reason_code,
        explanation=explanation,
        labels=labels,
        undoes_id=undoes_id,
    )
    session.add(row)
    session.flush()
    return row


def audit_trail(session: Session, comment_id: int) -> list[AuditEntry]:
    """Every action on a comment, oldest first."""
    if session.get(Comment, comment_id) is None:
        raise CommentNotFound(f"no comment with id {comment_id}", id=comment_id)
    rows = session.scalars(
        select(ModerationAction)
        .where(ModerationAction.comment_id == comment_id)
        .order_by(ModerationAction.id)
    )
    return [AuditEntry.model_validate(row, from_attributes=True) for row in rows]

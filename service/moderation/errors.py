"""Errors raised by the review queue; routers turn them into 4xx responses with a machine-readable code."""

from __future__ import annotations

from typing import Any

from civility.service.errors import ApiError


class ModerationError(ApiError):
    """Base class: ``status_code`` is the HTTP status, ``code`` a stable machine-readable name.

    Being an ``ApiError``, it reaches clients through the service's error handler as
    ``{"error": {"code", "message", "details"}}``.
    """

    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(self.status_code, self.code, message, details)

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


class InvalidInput(ModerationError):
    status_code = 422
    code = "invalid_input"


class TextTooLong(InvalidInput):
    code = "text_too_long"


class EmptyText(InvalidInput):
    code = "empty_text"


class UnknownReason(InvalidInput):
    code = "unknown_reason"


class CommentNotFound(ModerationError):
    status_code = 404
    code = "comment_not_found"


class AuthorNotFound(ModerationError):
    status_code = 404
    code = "author_not_found"


class IdempotencyConflict(ModerationError):
    """The client id was already used for a different comment."""

    status_code = 409
    code = "client_id_conflict"


class StaleVersion(ModerationError):
    """The comment changed since the moderator loaded it (optimistic concurrency)."""

    status_code = 409
    code = "stale_version"


class NothingToUndo(ModerationError):
    status_code = 409
    code = "nothing_to_undo"


class TooManyItems(InvalidInput):
    code = "too_many_items"


def ensure_searchable(value: str | None, field: str) -> str | None:
    """Reject query strings no database can compare against (NUL, lone surrogates)."""
    if value is None:
        return None
    if "\x00" in value:
        raise InvalidInput(f"{field} must not contain NUL characters", field=field)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInput(f"{field} must be valid Unicode", field=field) from exc
    return value

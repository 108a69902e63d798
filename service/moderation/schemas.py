"""Request and response bodies of the review-queue API (``/v1/comments``, ``/v1/queue``, ...)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from civility.model.labels import label_ids

Queue = Literal["pending", "reported", "approved", "rejected", "all"]
Sort = Literal["priority", "score", "newest", "oldest"]
DecisionAction = Literal["approve", "reject"]
StatusName = Literal["approved", "pending", "rejected"]

ID_FIELD = Field(min_length=1, max_length=200)


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


def _check_labels(value: dict[str, float] | None) -> dict[str, float] | None:
    if value is None:
        return None
    known = label_ids()
    unknown = sorted(set(value) - set(known))
    if unknown:
        raise ValueError(f"unknown label(s) {unknown}; known labels: {known}")
    for label, score in value.items():
        if not 0.0 <= score <= 1.0:
            raise ValueError(f"label {label!r}: {score} is outside [0, 1]")
    return value


def _storable(value: str) -> str:
    """Text every database can store: no NUL characters, no lone UTF-16 surrogates."""
    if "\x00" in value:
        raise ValueError("must not contain NUL (\\u0000) characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("must be valid Unicode (lone surrogate code points are not allowed)") from exc
    return value


def _optional_storable(value: str | None) -> str | None:
    return _storable(value) if value is not None else None


class CommentIn(_Request):
    """A reader comment submitted for moderation. ``client_id`` makes the call idempotent."""

    client_id: str = ID_FIELD
    story_id: str = ID_FIELD
    story_url: str | None = Field(default=None, max_length=2000)
    parent_id: str | None = Field(default=None, min_length=1, max_length=200)
    author_id: str = ID_FIELD
    author_name: str | None = Field(default=None, max_length=200)
    text: str
    created_at: AwareDatetime | None = Field(
        default=None, description="When the reader posted it (ISO 8601 with a UTC offset); default: now."
    )
    site: str | None = Field(default=None, min_length=1, max_length=200)
    do_not_store: bool = Field(
        default=False, description="Score and decide, but never store the comment (nothing is queued)."
    )

    @field_validator(
        "client_id", "story_id", "story_url", "parent_id", "author_id", "author_name", "text", "site"
    )
    @classmethod
    def _no_unstorable_characters(cls, value: str | None) -> str | None:
        return _storable(value) if value is not None else None

    @field_validator("created_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return value.astimezone(UTC) if value is not None else None

    @field_validator("story_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("story_url must be an http:// or https:// URL")
        return value


class ReasonOut(BaseModel):
    """Why the system held or rejected a comment (policy thresholds, word lists, author history)."""

    code: str
    message: str
    action: Literal["allow", "review", "reject"] | None = None
    label: str | None = None
    score: float | None = None
    threshold: float | None = None
    term: str | None = None
    begin: int | None = None
    end: int | None = None


class SpanOut(BaseModel):
    begin: int
    end: int
    score: float
    text: str


class CommentDecisionOut(BaseModel):
    """What ``POST /v1/comments`` returns: the stored comment's id and the automatic decision."""

    id: int | None = Field(description="Internal id; null when the comment was not stored (doNotStore).")
    client_id: str
    stored: bool
    replayed: bool = Field(description="True when this client_id was already stored with the same payload.")
    status: StatusName
    action: Literal["allow", "review", "reject"]
    reasons: list[ReasonOut]
    scores: dict[str, float]
    model: str
    version: int | None
    language: str | None = None
    english: bool = True


class ReportIn(_Request):
    reason: str = Field(min_length=1, max_length=40)
    note: str | None = Field(default=None, max_length=2000)
    reporter_id: str | None = Field(default=None, max_length=200)

    _storable_text = field_validator("reason", "note", "reporter_id")(_optional_storable)


class ReportOut(BaseModel):
    id: int
    comment_id: int
    reason: str
    open_reports: int
    report_count: int


class DecisionIn(_Request):
    """A moderator's decision. ``version`` is the comment version the moderator saw (409 if stale)."""

    action: DecisionAction
    version: int = Field(ge=1)
    reason_code: str | None = Field(default=None, max_length=40)
    explanation: str | None = Field(default=None, max_length=5000)
    labels: dict[str, float] | None = Field(
        default=None, description="Corrected labels (label -> 0..1); they win in the label export."
    )

    _labels = field_validator("labels")(_check_labels)
    _storable_text = field_validator("reason_code", "explanation")(_optional_storable)


class UndoIn(_Request):
    version: int = Field(ge=1)
    explanation: str | None = Field(default=None, max_length=5000)

    _storable_text = field_validator("explanation")(_optional_storable)


class BulkItem(_Request):
    id: int
    version: int = Field(ge=1)


class BulkDecisionIn(_Request):
    action: DecisionAction
    items: list[BulkItem] = Field(min_length=1)
    reason_code: str | None = Field(default=None, max_length=40)
    explanation: str | None = Field(default=None, max_length=5000)
    labels: dict[str, float] | None = None

    _labels = field_validator("labels")(_check_labels)
    _storable_text = field_validator("reason_code", "explanation")(_optional_storable)


class BulkResult(BaseModel):
    id: int
    ok: bool
    status: StatusName | None = None
    version: int | None = None
    error: dict[str, Any] | None = None


class BulkDecisionOut(BaseModel):
    applied: int
    failed: int
    results: list[BulkResult]


class CommentOut(BaseModel):
    """A comment as moderators see it in the queue."""

    id: int
    client_id: str
    site: str | None
    story_id: str
    story_url: str | None
    parent_id: str | None
    author_id: str
    author_name: str | None
    text: str
    created_at: datetime
    received_at: datetime
    status: StatusName
    version: int
    moderated: bool
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str | None
    decision_explanation: str | None
    corrected_labels: dict[str, float] | None
    system_status: StatusName
    system_action: str
    system_reasons: list[dict[str, Any]]
    model_version: str
    scores: dict[str, float]
    spans: dict[str, list[SpanOut]] | None
    max_score: float
    top_label: str
    language: str | None
    english: bool
    report_count: int
    open_reports: int
    priority: float


class QueuePage(BaseModel):
    queue: Queue
    total: int
    limit: int
    offset: int
    next_offset: int | None
    items: list[CommentOut]


class QueueCounts(BaseModel):
    pending: int
    reported: int
    approved: int
    rejected: int
    all: int


class AuditEntry(BaseModel):
    id: int
    comment_id: int
    created_at: datetime
    action: str
    actor: str
    actor_role: str
    before: dict[str, Any] | None
    after: dict[str, Any]
    reason_code: str | None
    explanation: str | None
    labels: dict[str, float] | None
    undoes_id: int | None


class AuthorDecision(BaseModel):
    comment_id: int
    client_id: str
    story_id: str
    status: StatusName
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str | None
    received_at: datetime
    excerpt: str


class AuthorHistoryOut(BaseModel):
    author_id: str
    author_name: str | None
    total: int
    approved: int
    pending: int
    rejected: int
    reports: int
    recent_window_days: int
    recent_decided: int
    recent_rejected: int
    rejection_rate: float | None = Field(
        description="Recent rejected / recent decided; null if nothing was decided recently."
    )
    first_seen: datetime | None
    last_seen: datetime | None
    recent: list[AuthorDecision]

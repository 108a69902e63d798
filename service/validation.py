"""Checks every scoring entry point applies to comment text before it reaches the model."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from civility.model.labels import label_ids
from civility.service.errors import ApiError
from civility.service.settings import Settings


def has_visible_text(text: str) -> bool:
    """At least one character that is not whitespace, a control or a format (zero-width) character."""
    return any(unicodedata.category(ch)[0] not in "ZC" for ch in text)


def check_text(text: str, settings: Settings, *, index: int | None = None) -> None:
    """Visible, within ``max_text_chars``, encodable as UTF-8 (no lone surrogates)."""
    where = {"index": index} if index is not None else {}
    if not has_visible_text(text):
        raise ApiError(422, "empty_text", "Comment text is empty.", where)
    if len(text) > settings.max_text_chars:
        raise ApiError(
            422,
            "text_too_long",
            f"Comment text has {len(text)} characters; the limit is {settings.max_text_chars}.",
            {**where, "length": len(text), "max_chars": settings.max_text_chars},
        )
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ApiError(
            422, "invalid_text", "Comment text contains characters that are not valid Unicode.", where
        ) from exc


def check_batch(texts: Sequence[str], settings: Settings) -> None:
    if not texts:
        raise ApiError(422, "empty_batch", "No texts to score.")
    if len(texts) > settings.max_batch_size:
        raise ApiError(
            422,
            "batch_too_large",
            f"{len(texts)} texts in one request; the limit is {settings.max_batch_size}.",
            {"count": len(texts), "max_batch_size": settings.max_batch_size},
        )
    for index, text in enumerate(texts):
        check_text(text, settings, index=index if len(texts) > 1 else None)


def check_spans(texts: Sequence[str], settings: Settings) -> None:
    """Spans cost one model call per word group: bound the text they are computed for."""
    total = sum(len(text) for text in texts)
    if total > settings.max_span_chars:
        raise ApiError(
            422,
            "spans_text_too_long",
            f"Spans are computed for up to {settings.max_span_chars} characters per request; "
            f"this request has {total}. Ask without spans, or send fewer or shorter texts.",
            {"length": total, "max_span_chars": settings.max_span_chars},
        )


def check_labels(labels: Sequence[str] | None, available: Sequence[str] | None = None) -> list[str] | None:
    """Validate a requested label subset against the model's labels (default: configured labels)."""
    if labels is None:
        return None
    known = list(available) if available is not None else label_ids()
    if not labels:
        raise ApiError(
            422, "empty_labels", "`labels` is empty; omit it to get every label.", {"known": known}
        )
    unknown = [label for label in labels if label not in known]
    if unknown:
        raise ApiError(
            422,
            "unknown_label",
            f"Unknown label(s) {unknown}.",
            {"unknown": unknown, "known": known},
        )
    return list(dict.fromkeys(labels))

"""Checks every scoring entry point applies to comment text before it reaches the model."""

from __future__ import annotations

from collections.abc import Sequence

from civility.model.labels import label_ids
from civility.service.errors import ApiError
from civility.service.settings import Settings


def check_text(text: str, settings: Settings, *, index: int | None = None) -> None:
    """Non-empty, within ``max_text_chars``, encodable as UTF-8 (no lone surrogates)."""
    where = {"index": index} if index is not None else {}
    if not text.strip():
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

"""The extracted-comment record, stable ids, deduplication and language detection.

Every reader (text renderings, HTML pages, CSV/JSONL exports) yields ``RawComment`` objects;
``build_records`` turns them into ``CommentRecord`` objects with stable ids, parent links
resolved to those ids, and a detected language.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TextIO

from pydantic import BaseModel, ConfigDict, Field

from civility.model.language import detect_language


class ThreadInfo(BaseModel):
    """The page or thread a comment belongs to."""

    model_config = ConfigDict(frozen=True)

    url: str | None = None
    title: str | None = None


class CommentRecord(BaseModel):
    """One extracted reader comment: the output line of ``civility extract``."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(description="Stable hash of source, author, posting time and text.")
    source: str = Field(description="Where the comment was read from (file path or export name).")
    thread: ThreadInfo
    parent_id: str | None = Field(default=None, description="Id of the comment this one replies to.")
    author: str | None = None
    posted_at: datetime | None = Field(
        default=None, description="ISO 8601; naive when the page gave no zone."
    )
    votes: int | None = None
    text: str
    language: str | None = Field(default=None, description="ISO 639-1 code, or null when undetectable.")


@dataclass(frozen=True)
class RawComment:
    """A comment as a reader found it, before ids and language are assigned.

    ``native_id`` / ``native_parent_id`` are the page's or export's own identifiers (or
    positional keys invented by the reader) and are only used to resolve ``parent_id``.
    """

    text: str
    author: str | None = None
    posted_at: datetime | None = None
    votes: int | None = None
    native_id: str | None = None
    native_parent_id: str | None = None


def normalise_for_key(text: str) -> str:
    """Text normalised for identity comparisons: NFKC, case-folded, whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def comment_id(source: str, author: str | None, posted_at: datetime | None, text: str) -> str:
    """Stable id: the first 16 hex digits of the SHA-256 of source, author, time and text."""
    stamp = posted_at.isoformat() if posted_at else ""
    payload = "\x1f".join((source, author or "", stamp, normalise_for_key(text)))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


def language_of(text: str) -> str | None:
    """ISO 639-1 code of the comment's language, or None when it cannot be told.

    The scorer's detector (``civility.model.language``: English stopwords for short texts,
    seeded ``langdetect`` for longer ones), so extraction and scoring agree.
    """
    return detect_language(text).code


def build_records(
    source: str,
    thread: ThreadInfo,
    comments: Sequence[RawComment],
) -> list[CommentRecord]:
    """Assign stable ids, resolve parents to those ids, and detect each comment's language."""
    ids: dict[str, str] = {}
    records: list[CommentRecord] = []
    for raw in comments:
        record_id = comment_id(source, raw.author, raw.posted_at, raw.text)
        if raw.native_id is not None:
            ids[raw.native_id] = record_id
        parent = ids.get(raw.native_parent_id) if raw.native_parent_id is not None else None
        records.append(
            CommentRecord(
                id=record_id,
                source=source,
                thread=thread,
                parent_id=parent,
                author=raw.author,
                posted_at=raw.posted_at,
                votes=raw.votes,
                text=raw.text,
                language=language_of(raw.text),
            )
        )
    # A reply may precede its parent in some exports: resolve those in a second pass.
    unresolved = {
        i: raw.native_parent_id
        for i, raw in enumerate(comments)
        if raw.native_parent_id is not None and records[i].parent_id is None
    }
    for i, native_parent in unresolved.items():
        if native_parent in ids:
            records[i] = records[i].model_copy(update={"parent_id": ids[native_parent]})
    return records


def deduplicate(records: Iterable[CommentRecord]) -> Iterator[CommentRecord]:
    """Drop repeated comments, keeping the first occurrence.

    Two records are the same comment when they have the same id, or the same author, posting
    time and normalised text (the same thread saved twice from different places).
    """
    seen_ids: set[str] = set()
    seen_content: set[tuple[str, str, str]] = set()
    for record in records:
        content = (
            normalise_for_key(record.author or ""),
            record.posted_at.isoformat() if record.posted_at else "",
            normalise_for_key(record.text),
        )
        if record.id in seen_ids or content in seen_content:
            continue
        seen_ids.add(record.id)
        seen_content.add(content)
        yield record


def write_jsonl(records: Iterable[CommentRecord], out: TextIO) -> int:
    """Write records as JSON lines; returns how many were written."""
    count = 0
    for record in records:
        out.write(record.model_dump_json() + "\n")
        count += 1
    return count


def read_records(path: Path) -> list[CommentRecord]:
    """Read a ``civility extract`` output file back."""
    records = []
    with path.open(encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                records.append(CommentRecord.model_validate(json.loads(line)))
            except (json.JSONDecodeError, ValueError) as exc:
                raise ValueError(f"{path}:{line_no}: not a comment record: {exc}") from exc
    return records

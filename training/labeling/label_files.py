"""The hand / moderator label JSONL format, and the comments ``civility label`` reads.

One object per line (``docs/ARCHITECTURE.md``)::

    {"id": "c1", "text": "...", "labels": {"toxicity": 1, "insult": 0.6}, "source": "hand",
     "context": {...}, "provenance": {"toxicity": "hand", "insult": "model:civility-default@1.0.0"}}

``labels`` may name any subset of the configured labels (values in [0, 1], soft allowed); a
label that is absent is *unknown*, not 0. ``context`` and ``provenance`` are optional. A person
can edit the file by hand: one comment per line, nothing else required.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from civility.training.extract.records import normalise_for_key


class LabelFileError(ValueError):
    """A label or comment file that cannot be read (the message names file and line)."""


class LabelRecord(BaseModel):
    """One line of a hand / moderator label file, and of ``civility label`` output."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1)
    text: str = Field(min_length=1)
    labels: dict[str, float]
    source: str = "hand"
    context: Any = None
    provenance: dict[str, str] | None = None

    @field_validator("labels")
    @classmethod
    def _in_unit_interval(cls, value: dict[str, float]) -> dict[str, float]:
        bad = {k: v for k, v in value.items() if not 0.0 <= v <= 1.0}
        if bad:
            raise ValueError(f"label values must be in [0, 1], got {bad}")
        return value


@dataclass(frozen=True)
class CommentToLabel:
    """A comment read from ``civility extract`` output (or any JSONL with ``text``)."""

    id: str
    text: str
    language: str | None = None
    context: dict[str, Any] | None = None


def iter_json_lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    if not path.is_file():
        raise LabelFileError(f"{path}: no such file")
    with path.open("rb") as fh:
        for line_no, raw in enumerate(fh, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise LabelFileError(f"{path}:{line_no}: not UTF-8 text ({exc.reason})") from exc
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise LabelFileError(f"{path}:{line_no}: invalid JSON: {exc.msg}") from exc
            if not isinstance(row, dict):
                raise LabelFileError(f"{path}:{line_no}: expected a JSON object per line")
            yield line_no, row


def read_label_file(path: Path, known_labels: Sequence[str]) -> list[LabelRecord]:
    """Read and validate a label file; unknown label names and values outside [0, 1] are errors."""
    known = set(known_labels)
    records = []
    for line_no, row in iter_json_lines(path):
        try:
            record = LabelRecord.model_validate(row)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise LabelFileError(f"{path}:{line_no}: not a label record ({problems})") from exc
        unknown = sorted(set(record.labels) - known)
        if unknown:
            raise LabelFileError(
                f"{path}:{line_no}: unknown labels {unknown} (known: {', '.join(known_labels)})"
            )
        records.append(record)
    return records


def read_comments(path: Path) -> list[CommentToLabel]:
    """Comments to label: ``civility extract`` records, label records, or any ``{"text": ...}`` lines.

    Without an ``id`` a comment gets a stable one from its text. Thread title/URL and the
    parent comment's text become the ``context``.
    """
    rows: list[tuple[int, dict[str, Any]]] = list(iter_json_lines(path))
    by_id: dict[str, str] = {}
    for _, row in rows:
        if isinstance(row.get("id"), str) and isinstance(row.get("text"), str):
            by_id[row["id"]] = row["text"]
    comments = []
    for line_no, row in rows:
        text = row.get("text")
        if not isinstance(text, str) or not text.strip():
            raise LabelFileError(f"{path}:{line_no}: every line needs a non-empty 'text' string")
        raw_id = row.get("id")
        comment_id = str(raw_id) if raw_id not in (None, "") else text_key(text)
        language = row.get("language") if isinstance(row.get("language"), str) else None
        comments.append(CommentToLabel(comment_id, text, language, _context(row, by_id)))
    return comments


def _context(row: dict[str, Any], texts_by_id: dict[str, str]) -> dict[str, Any] | None:
    if isinstance(row.get("context"), dict):
        return dict(row["context"])
    context: dict[str, Any] = {}
    thread = row.get("thread")
    if isinstance(thread, dict):
        if thread.get("title"):
            context["thread_title"] = thread["title"]
        if thread.get("url"):
            context["thread_url"] = thread["url"]
    parent = row.get("parent_id")
    if isinstance(parent, str) and parent in texts_by_id:
        context["parent_text"] = texts_by_id[parent]
    return context or None


def text_key(text: str) -> str:
    """Identity of a comment by its text (for matching labels made on another copy of it)."""
    return hashlib.sha256(normalise_for_key(text).encode("utf-8")).hexdigest()[:16]


class HumanLabels:
    """Human labels from several files, found by comment id or, failing that, by text."""

    def __init__(self) -> None:
        self._by_id: dict[str, dict[str, dict[str, float]]] = {}
        self._by_text: dict[str, dict[str, dict[str, float]]] = {}

    def add(self, origin: str, records: Iterable[LabelRecord]) -> int:
        """Add one origin's records (later files of the same origin override earlier ones)."""
        count = 0
        for record in records:
            for index, key in ((self._by_id, record.id), (self._by_text, text_key(record.text))):
                index.setdefault(key, {}).setdefault(origin, {}).update(record.labels)
            count += 1
        return count

    def lookup(self, comment_id: str, text: str) -> dict[str, dict[str, float]]:
        """``{origin: {label: value}}`` for a comment; id matches win over text matches."""
        found: dict[str, dict[str, float]] = {}
        for origin, labels in self._by_text.get(text_key(text), {}).items():
            found.setdefault(origin, {}).update(labels)
        for origin, labels in self._by_id.get(comment_id, {}).items():
            found.setdefault(origin, {}).update(labels)
        return found


def write_label_file(records: Iterable[LabelRecord], out: TextIO) -> int:
    count = 0
    for record in records:
        out.write(record.model_dump_json(exclude_none=True) + "\n")
        count += 1
    return count

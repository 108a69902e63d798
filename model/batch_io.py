"""Streaming input and output for ``civility score INPUT``: constant memory, clear errors.

Inputs: CSV with a header (``text`` column, optional ``id``), JSONL (one object per line
with ``text`` and optional ``id``), or plain lines (one text per line; ``-`` reads stdin).
Rows are yielded one at a time in input order; invalid UTF-8, malformed JSON or CSV, and a
missing text column raise ``InputError`` naming the line. Empty texts are skipped and
counted. Output is JSONL written to a temporary file that replaces the target only when
the whole input has been scored, so a failed run leaves no partial output behind.
"""

from __future__ import annotations

import csv
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

InputFormat = Literal["csv", "jsonl", "lines"]
_CSV_FIELD_LIMIT = 2**31 - 1  # one comment may be very long; the scorer caps it, not the reader
_SUFFIXES: dict[str, InputFormat] = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".txt": "lines",
}


class InputError(Exception):
    """The input cannot be read as requested (the message says where and why)."""


@dataclass(frozen=True)
class Row:
    id: Any
    text: str
    line: int


@dataclass
class ReadStats:
    rows: int = 0
    skipped_empty: int = 0
    bytes_read: int = 0


def detect_format(path: str, explicit: InputFormat | None) -> InputFormat:
    if explicit is not None:
        return explicit
    if path == "-":
        return "lines"
    suffix = Path(path).suffix.lower()
    if suffix not in _SUFFIXES:
        raise InputError(
            f"cannot tell the format of {path!r} from its extension; use .csv, .jsonl or .txt, "
            "or pass --format csv|jsonl|lines"
        )
    return _SUFFIXES[suffix]


def _decoded_lines(stream: IO[bytes], name: str, stats: ReadStats) -> Iterator[tuple[int, str]]:
    for number, raw in enumerate(stream, start=1):
        stats.bytes_read += len(raw)
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        try:
            yield number, raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(
                f"{name}: line {number} is not valid UTF-8 (byte {exc.start + 1} of the line: "
                f"{raw[exc.start : exc.start + 1]!r})"
            ) from None


def check_input(path: str) -> None:
    """Raise ``InputError`` unless ``path`` is ``-`` or a readable file."""
    if path == "-":
        return
    file = Path(path)
    if not file.exists():
        raise InputError(f"input file {path!r} does not exist")
    if not file.is_file():
        raise InputError(f"input {path!r} is not a file")
    if not os.access(file, os.R_OK):
        raise InputError(f"input file {path!r} is not readable")


@contextmanager
def open_input(path: str) -> Iterator[tuple[IO[bytes], int | None]]:
    """The binary stream and its size in bytes (None for stdin)."""
    if path == "-":
        yield sys.stdin.buffer, None
        return
    check_input(path)
    file = Path(path)
    with file.open("rb") as stream:
        yield stream, file.stat().st_size


def read_rows(
    stream: IO[bytes],
    name: str,
    fmt: InputFormat,
    stats: ReadStats,
    *,
    text_column: str = "text",
    id_column: str = "id",
) -> Iterator[Row]:
    """Rows with non-empty text, in input order (ids default to the 1-based record number)."""
    lines = _decoded_lines(stream, name, stats)
    if fmt == "csv":
        rows = _csv_rows(lines, name, text_column, id_column)
    elif fmt == "jsonl":
        rows = _jsonl_rows(lines, name, text_column, id_column)
    else:
        rows = (Row(id=number, text=line.rstrip("\r\n"), line=number) for number, line in lines)
    for row in rows:
        if not row.text.strip():
            stats.skipped_empty += 1
            continue
        stats.rows += 1
        yield row


def _csv_rows(lines: Iterator[tuple[int, str]], name: str, text_column: str, id_column: str) -> Iterator[Row]:
    csv.field_size_limit(_CSV_FIELD_LIMIT)
    current = [0]

    def texts() -> Iterator[str]:
        for number, line in lines:
            current[0] = number
            yield line

    reader = csv.reader(texts())
    try:
        header = next(reader, None)
        if header is None:
            return
        if text_column not in header:
            raise InputError(f"{name}: no {text_column!r} column (columns: {', '.join(header) or 'none'})")
        text_at = header.index(text_column)
        id_at = header.index(id_column) if id_column in header else None
        for record, values in enumerate(reader, start=1):
            if not values:
                continue  # a blank line between records
            if len(values) != len(header):
                raise InputError(
                    f"{name}: line {current[0]} has {len(values)} fields, the header has {len(header)}"
                )
            yield Row(
                id=values[id_at] if id_at is not None else record,
                text=values[text_at],
                line=current[0],
            )
    except csv.Error as exc:
        raise InputError(f"{name}: line {current[0]} is not valid CSV: {exc}") from None


def _jsonl_rows(
    lines: Iterator[tuple[int, str]], name: str, text_column: str, id_column: str
) -> Iterator[Row]:
    record = 0
    for number, line in lines:
        if not line.strip():
            continue
        record += 1
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{name}: line {number} is not valid JSON: {exc.msg}") from None
        if not isinstance(obj, dict):
            raise InputError(f"{name}: line {number} is a JSON {type(obj).__name__}, expected an object")
        if text_column not in obj:
            raise InputError(f"{name}: line {number} has no {text_column!r} field")
        text = obj[text_column]
        if text is None:
            text = ""
        if not isinstance(text, str):
            raise InputError(
                f"{name}: line {number}: {text_column!r} must be a string, not {type(text).__name__}"
            )
        yield Row(id=obj.get(id_column, record), text=text, line=number)


@contextmanager
def open_output(path: str) -> Iterator[IO[str]]:
    """A text stream for JSONL output; a file appears only if the block completes."""
    if path == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    target = Path(path)
    if target.is_dir():
        raise InputError(f"output {path!r} is a directory")
    if not target.parent.is_dir():
        raise InputError(f"output directory {str(target.parent)!r} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    try:
        with open(fd, "w", encoding="utf-8", newline="\n") as stream:
            yield stream
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)

"""Comments from CSV and JSONL exports of comment platforms (or of ``civility extract`` itself).

Columns are found by name: an explicit mapping (``--text-column body``) wins, otherwise the first
candidate from ``configs/extract/extract.yaml: export_columns`` present in the file. JSONL
columns may be dotted paths into nested objects (``thread.url``, ``author.name``).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from civility.training.extract.records import RawComment, ThreadInfo
from civility.training.extract.settings import ExportColumns, ExtractSettings

FIELDS = ("text", "author", "posted_at", "votes", "id", "parent_id", "url", "title")


class ExportError(ValueError):
    """An export file that cannot be read as comments (message says where and why)."""


@dataclass
class ExportExtraction:
    threads: dict[ThreadInfo, list[RawComment]]
    skipped_empty: int = 0
    unparsed_times: int = 0
    columns: dict[str, str] = field(default_factory=dict)


def read_export(
    path: Path, settings: ExtractSettings, overrides: Mapping[str, str | None] | None = None
) -> ExportExtraction:
    """Read a ``.csv`` / ``.tsv`` / ``.jsonl`` / ``.ndjson`` export into comments grouped by thread.

    Columns are resolved per row (JSONL objects need not all have the same keys); an explicit
    column that no row has, or a file in which no row has a text column, is an error.
    """
    explicit: dict[str, str] = {k: v for k, v in (overrides or {}).items() if v}
    unknown = set(explicit) - set(FIELDS)
    if unknown:
        raise ExportError(f"unknown column mapping(s): {', '.join(sorted(unknown))}")
    result = ExportExtraction(threads={})
    reader = _RowReader(explicit, settings.export_columns, settings.time_formats)
    seen_keys: set[str] = set()
    rows = 0
    for line_no, row in _rows(path):
        rows += 1
        seen_keys.update(row)
        comment, thread, time_failed = reader.read(row, line_no, path)
        result.unparsed_times += time_failed
        if comment is None:
            result.skipped_empty += 1
            continue
        result.threads.setdefault(thread, []).append(comment)
    if rows == 0:
        return result
    available = ", ".join(sorted(seen_keys))
    for name, column in explicit.items():
        if name not in reader.used:
            raise ExportError(f"{path}: no column {column!r} for {name} (columns: {available})")
    if "text" not in reader.used:
        raise ExportError(f"{path}: no comment-text column found; pass --text-column (columns: {available})")
    result.columns = {name: ", ".join(sorted(columns)) for name, columns in reader.used.items()}
    return result


def _rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    suffix = path.suffix.lower()
    if suffix in {".csv", ".tsv"}:
        yield from _csv_rows(path, delimiter="\t" if suffix == ".tsv" else ",")
    elif suffix in {".jsonl", ".ndjson", ".json"}:
        yield from _jsonl_rows(path)
    else:
        raise ExportError(f"{path}: unsupported export format {suffix!r} (use .csv, .tsv or .jsonl)")


def _csv_rows(path: Path, delimiter: str) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh, delimiter=delimiter)
        try:
            for row in reader:
                yield reader.line_num, row
        except csv.Error as exc:
            raise ExportError(f"{path}:{reader.line_num}: malformed CSV: {exc}") from exc
        except UnicodeDecodeError as exc:
            raise ExportError(
                f"{path}: not UTF-8 text ({exc.reason} near line {reader.line_num + 1})"
            ) from exc


def _jsonl_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open("rb") as fh:
        for line_no, raw in enumerate(fh, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ExportError(f"{path}:{line_no}: not UTF-8 text ({exc.reason})") from exc
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ExportError(f"{path}:{line_no}: invalid JSON: {exc.msg}") from exc
            if not isinstance(row, dict):
                raise ExportError(f"{path}:{line_no}: expected a JSON object per line")
            yield line_no, row


def _lookup(row: Mapping[str, Any], column: str) -> Any:
    if column in row:
        return row[column]
    value: Any = row
    for part in column.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _has(row: Mapping[str, Any], column: str) -> bool:
    if column in row:
        return True
    value: Any = row
    for part in column.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return False
        value = value[part]
    return True


class _RowReader:
    def __init__(
        self, overrides: Mapping[str, str], candidates: ExportColumns, time_formats: list[str]
    ) -> None:
        self.overrides = overrides
        self.candidates = candidates
        self.time_formats = time_formats
        self.used: dict[str, set[str]] = {}

    def _column(self, row: Mapping[str, Any], name: str) -> str | None:
        explicit = self.overrides.get(name)
        options = [explicit] if explicit else getattr(self.candidates, name)
        column = next((c for c in options if _has(row, c)), None)
        if column is not None:
            self.used.setdefault(name, set()).add(column)
        return column

    def _get(self, row: Mapping[str, Any], name: str) -> str | None:
        column = self._column(row, name)
        if column is None:
            return None
        value = _lookup(row, column)
        if value is None:
            return None
        text = str(value).strip()
        return text or None

    def read(
        self, row: Mapping[str, Any], line_no: int, path: Path
    ) -> tuple[RawComment | None, ThreadInfo, int]:
        thread = ThreadInfo(url=self._get(row, "url"), title=self._get(row, "title"))
        text_column = self._column(row, "text")
        text = _lookup(row, text_column) if text_column else None
        if text is not None and not isinstance(text, str):
            raise ExportError(f"{path}:{line_no}: comment text must be a string, got {type(text).__name__}")
        text = (text or "").strip()
        if not text:
            return None, thread, 0
        printed_time = self._get(row, "posted_at")
        posted_at = self._parse_time(printed_time)
        votes_text = self._get(row, "votes")
        try:
            votes = int(float(votes_text)) if votes_text is not None else None
        except ValueError as exc:
            raise ExportError(f"{path}:{line_no}: vote count {votes_text!r} is not a number") from exc
        comment = RawComment(
            text=text,
            author=self._get(row, "author"),
            posted_at=posted_at,
            votes=votes,
            native_id=self._get(row, "id"),
            native_parent_id=self._get(row, "parent_id"),
        )
        return comment, thread, int(printed_time is not None and posted_at is None)

    def _parse_time(self, printed: str | None) -> datetime | None:
        if printed is None:
            return None
        try:
            return datetime.fromisoformat(printed)
        except ValueError:
            pass
        for fmt in self.time_formats:
            try:
                return datetime.strptime(printed, fmt)
            except ValueError:
                continue
        return None

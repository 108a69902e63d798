"""``civility extract``: pick a reader per input file, build records, deduplicate."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from civility.training.extract.exports import read_export
from civility.training.extract.html_thread import read_html_thread
from civility.training.extract.records import CommentRecord, build_records, deduplicate
from civility.training.extract.settings import ExtractSettings, SitesConfig
from civility.training.extract.text_thread import read_text_thread

TEXT_SUFFIXES = frozenset({".txt", ".md", ".text"})
HTML_SUFFIXES = frozenset({".html", ".htm", ".xhtml"})
EXPORT_SUFFIXES = frozenset({".csv", ".tsv", ".jsonl", ".ndjson", ".json"})


class ExtractError(ValueError):
    """An input that cannot be extracted (the message names the file and the reason)."""


@dataclass(frozen=True)
class ExtractOptions:
    site: str | None = None
    columns: Mapping[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True)
class FileReport:
    path: Path
    reader: str  # "text", "html" or "export"
    strategy: str  # site profile, "fallback", or the resolved export columns
    comments: int
    notes: tuple[str, ...] = ()


@dataclass
class ExtractResult:
    records: list[CommentRecord]
    files: list[FileReport]
    duplicates: int


def expand_inputs(paths: Iterable[Path]) -> list[Path]:
    """Files as given, and the readable files inside given directories (sorted)."""
    known = TEXT_SUFFIXES | HTML_SUFFIXES | EXPORT_SUFFIXES
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in known))
        elif path.is_file():
            files.append(path)
        else:
            raise ExtractError(f"{path}: no such file or directory")
    return files


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ExtractError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc


def extract_files(
    paths: Sequence[Path],
    sites: SitesConfig,
    settings: ExtractSettings,
    options: ExtractOptions | None = None,
) -> ExtractResult:
    """Extract every input; records keep input order and thread order, duplicates removed."""
    options = options or ExtractOptions()
    records: list[CommentRecord] = []
    reports: list[FileReport] = []
    for path in expand_inputs(paths):
        suffix = path.suffix.lower()
        source = path.name
        if suffix in TEXT_SUFFIXES:
            text_result = read_text_thread(_read_text(path), sites, site=options.site)
            records.extend(build_records(source, text_result.thread, text_result.comments))
            strategy = text_result.profile or "no comment blocks"
            reports.append(FileReport(path, "text", strategy, len(text_result.comments)))
        elif suffix in HTML_SUFFIXES:
            html_result = read_html_thread(_read_text(path), sites, settings.html_fallback, site=options.site)
            records.extend(build_records(source, html_result.thread, html_result.comments))
            reports.append(FileReport(path, "html", html_result.strategy, len(html_result.comments)))
        elif suffix in EXPORT_SUFFIXES:
            export = read_export(path, settings, options.columns)
            count = 0
            for thread, comments in export.threads.items():
                records.extend(build_records(source, thread, comments))
                count += len(comments)
            notes = []
            if export.skipped_empty:
                notes.append(f"{export.skipped_empty} rows without text skipped")
            if export.unparsed_times:
                notes.append(f"{export.unparsed_times} timestamps not understood (posted_at null)")
            mapping = ", ".join(f"{k}={v}" for k, v in export.columns.items())
            reports.append(FileReport(path, "export", mapping, count, tuple(notes)))
        else:
            raise ExtractError(
                f"{path}: unknown input type {suffix!r} "
                f"(text: .txt/.md, HTML: .html/.htm, exports: .csv/.tsv/.jsonl)"
            )
    unique = list(deduplicate(records))
    return ExtractResult(records=unique, files=reports, duplicates=len(records) - len(unique))

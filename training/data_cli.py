"""Data commands: ``civility extract`` (comments from pages and exports) and ``civility label``
(weak, hand and moderator labels combined with provenance; cleanlab label-issue listing)."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, TextIO

import typer

OutputOption = Annotated[
    Path, typer.Option("--output", "-o", help="Output JSONL file ('-' for standard output).")
]


@contextmanager
def _open_output(path: Path):  # type: ignore[no-untyped-def]
    if str(path) == "-":
        yield sys.stdout
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    with tmp.open("w", encoding="utf-8") as fh:
        yield fh
    tmp.replace(path)  # never leave a half-written output behind


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=2)


def extract(
    inputs: Annotated[
        list[Path],
        typer.Argument(help="Saved pages (.txt/.md text renderings, .html) or exports (.csv/.tsv/.jsonl)."),
    ],
    output: OutputOption = Path("-"),
    site: Annotated[
        str | None, typer.Option(help="Use this site's markers/selectors instead of detecting them.")
    ] = None,
    sites_file: Annotated[
        Path | None, typer.Option("--sites", help="Site markers YAML (default: configs/extract/sites.yaml).")
    ] = None,
    text_column: Annotated[str | None, typer.Option(help="Export column with the comment text.")] = None,
    author_column: Annotated[str | None, typer.Option(help="Export column with the author name.")] = None,
    time_column: Annotated[str | None, typer.Option(help="Export column with the posting time.")] = None,
    votes_column: Annotated[str | None, typer.Option(help="Export column with the vote count.")] = None,
    id_column: Annotated[str | None, typer.Option(help="Export column with the comment's own id.")] = None,
    parent_column: Annotated[
        str | None, typer.Option(help="Export column with the parent comment's id.")
    ] = None,
    url_column: Annotated[str | None, typer.Option(help="Export column with the story URL.")] = None,
    title_column: Annotated[str | None, typer.Option(help="Export column with the story title.")] = None,
) -> None:
    """Extract reader comments (author, time, votes, text, thread) into deduplicated JSONL."""
    from pydantic import ValidationError

    from civility.training.extract.exports import ExportError
    from civility.training.extract.pipeline import ExtractError, ExtractOptions, extract_files
    from civility.training.extract.records import write_jsonl
    from civility.training.extract.settings import load_extract_settings, load_sites

    columns = {
        "text": text_column,
        "author": author_column,
        "posted_at": time_column,
        "votes": votes_column,
        "id": id_column,
        "parent_id": parent_column,
        "url": url_column,
        "title": title_column,
    }
    try:
        sites = load_sites(sites_file)
        settings = load_extract_settings()
        if site is not None:
            known = {p.name for p in sites.text_renderings} | {s.name for s in sites.html}
            if site not in known:
                raise ExtractError(f"unknown site {site!r} (configured: {', '.join(sorted(known))})")
        result = extract_files(inputs, sites, settings, ExtractOptions(site=site, columns=columns))
    except (ExtractError, ExportError, KeyError, OSError) as exc:
        raise _fail(str(exc).strip("'\"")) from exc
    except ValidationError as exc:
        raise _fail(f"invalid site configuration: {exc}") from exc
    out: TextIO
    with _open_output(output) as out:
        written = write_jsonl(result.records, out)
    for report in result.files:
        notes = f" ({'; '.join(report.notes)})" if report.notes else ""
        typer.echo(
            f"{report.path}: {report.comments} comments [{report.reader}: {report.strategy}]{notes}", err=True
        )
    typer.echo(f"{written} comments written ({result.duplicates} duplicates dropped)", err=True)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root ``civility`` app."""
    from civility.training.build_data import register_build_data

    register_build_data(app)
    app.command("extract")(extract)

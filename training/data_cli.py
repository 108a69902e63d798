"""Data commands: ``civility extract`` (comments from pages and exports) and ``civility label``
(weak, hand and moderator labels combined with provenance; cleanlab label-issue listing)."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TextIO

import typer
import yaml

if TYPE_CHECKING:
    from civility.training.labeling.settings import LabelConfig

OutputOption = Annotated[
    Path, typer.Option("--output", "-o", help="Output JSONL file ('-' for standard output).")
]


@contextmanager
def _open_output(path: Path):  # type: ignore[no-untyped-def]
    if str(path) == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    try:
        with tmp.open("w", encoding="utf-8") as fh:
            yield fh
        tmp.replace(path)  # the output appears complete or not at all
    finally:
        tmp.unlink(missing_ok=True)


def _config_problem(exc: Exception) -> str:
    """A short description of a configuration file problem (YAML syntax or schema)."""
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
    return " ".join(str(exc).split())


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
    except KeyError as exc:  # unknown site name
        raise _fail(str(exc.args[0])) from exc
    except (ExtractError, ExportError, OSError) as exc:
        raise _fail(str(exc)) from exc
    except (ValidationError, yaml.YAMLError) as exc:
        raise _fail(f"invalid site configuration: {_config_problem(exc)}") from exc
    out: TextIO
    with _open_output(output) as out:
        written = write_jsonl(result.records, out)
    for report in result.files:
        notes = f" ({'; '.join(report.notes)})" if report.notes else ""
        typer.echo(
            f"{report.path}: {report.comments} comments [{report.reader}: {report.strategy}]{notes}", err=True
        )
    typer.echo(f"{written} comments written ({result.duplicates} duplicates dropped)", err=True)


def label(
    input_path: Annotated[
        Path | None,
        typer.Argument(metavar="INPUT.jsonl", help="Comments to label (civility extract output)."),
    ] = None,
    output: OutputOption = Path("-"),
    hand: Annotated[
        list[Path] | None, typer.Option("--hand", help="Hand-label JSONL (repeatable; later files win).")
    ] = None,
    moderator: Annotated[
        list[Path] | None,
        typer.Option(
            "--moderator", help="Moderator-decision JSONL, e.g. GET /v1/export/labels (repeatable)."
        ),
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", help="Model bundle for weak scores: name, name@version or path.")
    ] = None,
    no_model: Annotated[bool, typer.Option("--no-model", help="Do not use model scores.")] = False,
    config_file: Annotated[
        Path | None, typer.Option("--config", help="Labelling config (default: configs/label.yaml).")
    ] = None,
    find_issues: Annotated[
        Path | None,
        typer.Option(
            "--find-issues",
            metavar="DATASET_DIR_OR_JSONL",
            help="Instead of labelling: list likely label errors in this dataset (cleanlab).",
        ),
    ] = None,
    scores: Annotated[
        Path | None,
        typer.Option(
            help="With --find-issues: out-of-sample predicted probabilities (JSONL, e.g. civility score)."
        ),
    ] = None,
) -> None:
    """Label comments from moderator decisions, hand labels and weak sources (with provenance),
    or with --find-issues list likely label errors."""
    from pydantic import ValidationError

    from civility.model.labels import label_ids
    from civility.training.labeling.label_files import LabelFileError
    from civility.training.labeling.settings import load_label_config

    try:
        config = load_label_config(config_file)
    except OSError as exc:
        raise _fail(str(exc)) from exc
    except (ValidationError, yaml.YAMLError) as exc:
        raise _fail(f"invalid labelling configuration: {_config_problem(exc)}") from exc
    labels = label_ids()
    try:
        if find_issues is not None:
            if scores is None:
                raise _fail("--find-issues needs --scores FILE (out-of-sample predicted probabilities)")
            _find_issues(find_issues, scores, output, labels, config)
            return
        if input_path is None:
            raise _fail("give INPUT.jsonl to label, or --find-issues DATASET --scores FILE")
        _label(input_path, output, hand or [], moderator or [], model, not no_model, labels, config)
    except (LabelFileError, OSError) as exc:
        raise _fail(str(exc)) from exc
    except (ValidationError, yaml.YAMLError) as exc:
        raise _fail(f"invalid lexicon configuration: {_config_problem(exc)}") from exc
    except ValueError as exc:  # e.g. a lexicon pattern that does not compile
        raise _fail(str(exc)) from exc


def _label(
    input_path: Path,
    output: Path,
    hand: list[Path],
    moderator: list[Path],
    model: str | None,
    use_model: bool,
    labels: list[str],
    config: LabelConfig,
) -> None:
    from civility.training.labeling.combine import Labeler
    from civility.training.labeling.label_files import (
        HumanLabels,
        read_comments,
        read_label_file,
        write_label_file,
    )
    from civility.training.labeling.weak_sources import build_sources

    comments = read_comments(input_path)
    human = HumanLabels()
    for origin, files in (("moderator", moderator), ("hand", hand)):
        for path in files:
            human.add(origin, read_label_file(path, labels))
    sources, warnings = build_sources(config, model_ref=model, use_model=use_model)
    for warning in warnings:
        typer.secho(f"warning: {warning}", fg=typer.colors.YELLOW, err=True)
    labeler = Labeler(config, labels, sources, human)
    records, stats = labeler.label(comments)
    with _open_output(output) as out:
        write_label_file(records, out)
    origins = ", ".join(f"{k} {v}" for k, v in sorted(stats.by_origin.items())) or "none"
    typer.echo(
        f"{stats.written} of {stats.comments} comments labelled ({origins} labels; weak sources: "
        f"{', '.join(s.name for s in sources)}; {stats.abstained_comments} comments abstained)",
        err=True,
    )


def _find_issues(dataset: Path, scores: Path, output: Path, labels: list[str], config: LabelConfig) -> None:
    import json

    from civility.training.labeling.issues import find_issues, load_labelled, load_scores

    rows = load_labelled(dataset, labels)
    predicted = load_scores(scores, labels)
    issues, summaries = find_issues(rows, predicted, labels, config.issues)
    with _open_output(output) as out:
        for rank, issue in enumerate(issues, start=1):
            out.write(json.dumps(issue.as_json(rank), ensure_ascii=False) + "\n")
    for summary in summaries:
        detail = f"skipped: {summary.skipped}" if summary.skipped else f"{summary.issues} likely errors"
        typer.echo(f"{summary.label}: {summary.rows} rows with labels and scores, {detail}", err=True)
    typer.echo(f"{len(issues)} likely label errors written, most likely first", err=True)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root ``civility`` app."""
    from civility.training.build_data import register_build_data

    register_build_data(app)
    app.command("extract")(extract)
    app.command("label")(label)

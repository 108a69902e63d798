"""``civility score`` and ``civility models``: score text from the command line, inspect bundles.

    civility score --text "you are an idiot"            # table of the 8 scores, decisions, spans
    civility score comments.csv --output scores.jsonl   # CSV/JSONL with a text column; - = stdin lines
    civility models list
    civility models show civility-default@1.0.0

Only light modules are imported at the top: onnxruntime and the scorer load inside commands.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from civility.model.batch_io import (
    InputError,
    InputFormat,
    ReadStats,
    Row,
    check_input,
    detect_format,
    open_input,
    open_output,
    read_rows,
)
from civility.model.bundle import BundleError

if TYPE_CHECKING:
    from civility.model.scorer import Scorer, ScoreResult

err = Console(stderr=True)
out = Console()

CHUNK_ROWS = 256  # rows read, scored and written at a time (memory stays constant)


class PrecisionChoice(StrEnum):
    int8 = "int8"
    fp32 = "fp32"


class FormatChoice(StrEnum):
    csv = "csv"
    jsonl = "jsonl"
    lines = "lines"


ModelOption = Annotated[
    str | None,
    typer.Option(
        "--model", "-m", help="Bundle: name, name@version or a directory (default: civility-default)."
    ),
]
PrecisionOption = Annotated[PrecisionChoice, typer.Option("--precision", help="ONNX model to run.")]


def _fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _load(model: str | None, precision: PrecisionChoice, threads: int | None) -> Scorer:
    from civility.model.scorer import Scorer

    try:
        return Scorer.load(
            model, precision="fp32" if precision is PrecisionChoice.fp32 else "int8", threads=threads
        )
    except BundleError as exc:
        raise _fail(str(exc)) from None


def score(
    input: Annotated[
        str | None,
        typer.Argument(
            help="CSV or JSONL file with a text column (optional id column), a .txt file, "
            "or - for one text per line on stdin.",
            show_default=False,
        ),
    ] = None,
    text: Annotated[str | None, typer.Option("--text", "-t", help="Score this one text.")] = None,
    output: Annotated[str, typer.Option("--output", "-o", help="JSONL output file (- = stdout).")] = "-",
    model: ModelOption = None,
    precision: PrecisionOption = PrecisionChoice.int8,
    threads: Annotated[
        int | None,
        typer.Option(min=1, help="onnxruntime threads (default: all cores for files, 1 for --text)."),
    ] = None,
    fmt: Annotated[
        FormatChoice | None, typer.Option("--format", help="Input format (default: from the extension).")
    ] = None,
    text_column: Annotated[str, typer.Option(help="Column or field holding the text.")] = "text",
    id_column: Annotated[
        str, typer.Option(help="Column or field holding the id (kept in the output).")
    ] = "id",
    spans: Annotated[
        bool, typer.Option("--spans/--no-spans", help="With --text: show the words driving each label.")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="With --text: print the result as JSON.")] = False,
) -> None:
    """Score comments: one with --text, or a whole file streamed to JSONL."""
    if (text is None) == (input is None):
        raise _fail("give either --text TEXT or an INPUT file (or - for stdin), not both or neither")
    if text is not None:
        if not text.strip():
            raise _fail("--text is empty")
        scorer = _load(model, precision, threads)
        result = scorer.score([text], spans=spans)[0]
        if as_json:
            out.print_json(json.dumps({"model": scorer.ref, **result.model_dump()}))
        else:
            _print_result(scorer, text, result)
        return
    assert input is not None
    try:  # refuse an unreadable input before spending time loading the model
        input_format = detect_format(input, None if fmt is None else fmt.value)
        check_input(input)
    except InputError as exc:
        raise _fail(str(exc)) from None
    scorer = _load(model, precision, threads or os.cpu_count() or 1)
    try:
        _score_file(scorer, input, output, input_format, text_column, id_column)
    except InputError as exc:
        raise _fail(f"{exc}; no output written" if output != "-" else str(exc)) from None


def _score_file(
    scorer: Scorer, path: str, output: str, input_format: InputFormat, text_column: str, id_column: str
) -> None:
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

    stats = ReadStats()
    truncated = 0
    name = "stdin" if path == "-" else path
    with open_input(path) as (stream, size), open_output(output) as sink:
        progress = Progress(
            TextColumn("scoring"),
            BarColumn(),
            DownloadColumn(),
            TextColumn("{task.fields[rows]} comments"),
            TimeElapsedColumn(),
            console=err,
            transient=False,
            disable=not err.is_terminal,
        )
        rows = read_rows(stream, name, input_format, stats, text_column=text_column, id_column=id_column)
        with progress:
            task = progress.add_task("score", total=size, rows=0)
            for chunk in _chunks(rows, CHUNK_ROWS):
                texts = [row.text for row in chunk]
                probs = scorer.predict_proba(texts)
                for row, values in zip(chunk, probs, strict=True):
                    is_truncated = len(row.text) > scorer.config.max_chars
                    truncated += is_truncated
                    record = {
                        "id": row.id,
                        "scores": {
                            lb: round(float(v), 6) for lb, v in zip(scorer.labels, values, strict=True)
                        },
                        "flagged": {
                            lb: bool(v >= t)
                            for lb, v, t in zip(scorer.labels, values, scorer.thresholds, strict=True)
                        },
                        "model": scorer.ref,
                        "truncated": is_truncated,
                    }
                    sink.write(json.dumps(record, ensure_ascii=False) + "\n")
                sink.flush()
                progress.update(task, completed=stats.bytes_read, rows=stats.rows)
    err.print(f"scored {stats.rows} comments with {scorer.ref} ({scorer.precision})", highlight=False)
    if stats.skipped_empty:
        err.print(f"skipped {stats.skipped_empty} empty rows", highlight=False)
    if truncated:
        err.print(
            f"truncated {truncated} comments longer than {scorer.config.max_chars} characters "
            "(scored on their first part; see configs/scoring.yaml max_chars)",
            highlight=False,
        )


def _chunks(rows: Iterator[Row], size: int) -> Iterator[list[Row]]:
    chunk: list[Row] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _print_result(scorer: Scorer, text: str, result: ScoreResult) -> None:
    table = Table(title=f"{scorer.ref} ({scorer.precision})", title_justify="left")
    table.add_column("label")
    table.add_column("score", justify="right")
    table.add_column("threshold", justify="right")
    table.add_column("decision")
    table.add_column("spans")
    for label, value in result.scores.items():
        flagged = result.flagged[label]
        spans = (result.spans or {}).get(label, [])
        table.add_row(
            label,
            f"{value:.3f}",
            f"{scorer.manifest.thresholds.get(label, 0.5):.3f}",
            "[bold red]flag[/]" if flagged else "[green]ok[/]",
            ", ".join(f"{s.text!r} [{s.begin}:{s.end}] {s.score:+.2f}" for s in spans),
        )
    out.print(table)
    language = result.language or "undetermined"
    note = "" if result.english else " (the model is English-only: scores are less reliable)"
    out.print(f"language: {language}{note}", highlight=False)
    if result.truncated:
        out.print(f"truncated to the first {scorer.config.max_chars} characters", highlight=False)


# -- models ------------------------------------------------------------------------------------

models_app = typer.Typer(help="List and inspect model bundles.", no_args_is_help=True)


@models_app.command("list")
def list_models(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Bundles on the search path ($CIVILITY_MODEL_DIR, then the shipped bundles)."""
    from civility.model.registry import DEFAULT_NAME, Registry

    registry = Registry()
    bundles = registry.list()
    default = next((b for b in bundles if b.name == DEFAULT_NAME), None)
    if as_json:
        rows: list[dict[str, Any]] = [
            {"ref": b.ref, "source": b.source, "path": str(b.path), "format": b.manifest.weights.format,
             "default": b is default}
            for b in bundles
        ]  # fmt: skip
        out.print_json(json.dumps(rows))
        return
    if not bundles:
        roots = ", ".join(str(root) for root, _ in registry.roots)
        err.print(f"no model bundles found in {roots}", highlight=False)
        return
    table = Table()
    for column in ("model", "source", "format", "created", "path"):
        table.add_column(column)
    for b in bundles:
        ref = b.ref + (" [bold](default)[/]" if b is default else "")
        created = b.manifest.created.strftime("%Y-%m-%d %H:%M")
        table.add_row(ref, b.source, b.manifest.weights.format, created, str(b.path))
    out.print(table)


@models_app.command("show")
def show_model(
    ref: Annotated[
        str, typer.Argument(help="name, name@version or a bundle directory.")
    ] = "civility-default",
) -> None:
    """Manifest summary, metrics and integrity check of one bundle (exit 1 if it fails verification)."""
    from civility.model.bundle import read_manifest, verify_bundle
    from civility.model.registry import Registry

    try:
        path = Registry().resolve(ref)
        manifest = read_manifest(path)
    except BundleError as exc:
        raise _fail(str(exc)) from None
    try:
        verify_bundle(path)
        status, ok = f"[green]verified[/] ({len(manifest.files)} files, sha256)", True
    except BundleError as exc:
        status, ok = f"[bold red]FAILED[/] {exc}", False
    size = sum((path / rel).stat().st_size for rel in manifest.files if (path / rel).is_file())
    out.print(f"[bold]{manifest.ref}[/]  {path}", highlight=False)
    info = Table.grid(padding=(0, 2))
    info.add_row("created", manifest.created.isoformat())
    if manifest.description:
        info.add_row("description", manifest.description)
    info.add_row("base model", manifest.base_model)
    info.add_row("weights", f"{manifest.weights.format} ({size / 1e6:.1f} MB)")
    info.add_row("max length", f"{manifest.max_length} tokens")
    info.add_row("uses context", str(bool(manifest.metrics.get("uses_context", False))))
    if manifest.precision_target is not None:
        info.add_row("precision target", f"{manifest.precision_target:.2f}")
    info.add_row("integrity", status)
    out.print(info)
    labels = Table(title="labels", title_justify="left")
    for column in ("label", "threshold", "calibration"):
        labels.add_column(column)
    for label in manifest.labels:
        calibration = manifest.calibration.get(label)
        labels.add_row(
            label, f"{manifest.thresholds.get(label, 0.5):.3f}", calibration.method if calibration else "-"
        )
    out.print(labels)
    if manifest.training_data:
        data = Table(title="training data", title_justify="left")
        for column in ("corpus", "rows", "license"):
            data.add_column(column)
        for source in manifest.training_data:
            data.add_row(source.name, str(source.rows), source.license)
        out.print(data)
    if manifest.metrics:
        out.print("[bold]metrics[/]")
        out.print_json(json.dumps(_jsonable(manifest.metrics)))
    if not ok:
        raise typer.Exit(1)


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def register(app: typer.Typer) -> None:
    """Add ``score`` and ``models`` to the root ``civility`` app."""
    app.command("score")(score)
    app.add_typer(models_app, name="models")


__all__ = ["register"]

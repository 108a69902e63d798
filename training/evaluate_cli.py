"""``civility evaluate``: quality report for a model bundle on labelled data."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from civility.service.policy import Policy


def load_policy(path: Path | None) -> Policy:
    """The policy for ``--policy`` (default: the shipped configs/policy.yaml).

    Raises ValueError with a one-line message when the file is missing, unreadable or invalid.
    """
    import yaml
    from pydantic import ValidationError

    from civility.service.policy import Policy, PolicyError

    source = str(path) if path is not None else "configs/policy.yaml"
    if path is not None and not path.is_file():  # Policy.load would fall back to configs/<name>
        raise ValueError(f"policy file not found: {path}")
    try:
        policy = Policy.load(path)
        policy.match_terms("")  # compiles the global word lists, so a bad entry fails here, not mid-run
    except PolicyError as exc:
        if isinstance(exc.__cause__, ValidationError):
            details = "; ".join(
                (".".join(str(part) for part in error["loc"]) + ": " if error["loc"] else "") + error["msg"]
                for error in exc.__cause__.errors()
            )
            raise ValueError(f"invalid policy {source}: {details}") from None
        raise ValueError(" ".join(str(exc).split())) from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ValueError(f"cannot read policy {source}: {' '.join(str(exc).split())}") from None
    return policy


def evaluate(
    bundle: Annotated[
        str,
        typer.Argument(
            metavar="BUNDLE_OR_REF", help="Bundle directory or registry ref (name or name@version)."
        ),
    ],
    data: Annotated[
        str,
        typer.Option(
            "--data", help="CSV/JSONL/Parquet with 'text' and label columns, or DIR:SPLIT of a built corpus."
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Directory for report.json, report.md and plots.")],
    baselines: Annotated[
        bool, typer.Option("--baselines", help="Also score the shipped baselines (needs .venv-baselines).")
    ] = False,
    bias: Annotated[
        bool, typer.Option("--bias", help="Identity-bias metrics on conversationai_bias_eval.")
    ] = False,
    functional: Annotated[bool, typer.Option("--functional", help="Hand-written functional suites.")] = False,
    policy: Annotated[
        bool,
        typer.Option(
            "--policy", help="What the moderation policy does with the scores (allow/review/reject)."
        ),
    ] = False,
    policy_file: Annotated[
        Path | None,
        typer.Option(
            "--policy-file", help="Policy YAML for --policy (default: configs/policy.yaml); implies --policy."
        ),
    ] = None,
    functional_dir: Annotated[
        Path | None,
        typer.Option("--functional-dir", help="Suites directory (default from configs/evaluation.yaml)."),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option("--limit", min=1, help="Evaluate a reproducible random sample of this many rows."),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="Evaluation settings YAML (default: configs/evaluation.yaml)."),
    ] = None,
    threads: Annotated[int | None, typer.Option("--threads", min=1, help="ONNX Runtime threads.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bars.")] = False,
) -> None:
    """Evaluate a model bundle: ranking, calibration, baselines, bias, functional suites, policy outcomes."""
    from pydantic import ValidationError

    from civility.model.bundle import BundleError
    from civility.model.labels import label_ids
    from civility.training.evaluation.bias import BiasDataError
    from civility.training.evaluation.config import load_evaluation_config
    from civility.training.evaluation.eval_data import EvalDataError, load_eval_data
    from civility.training.evaluation.functional import FunctionalSuiteError
    from civility.training.evaluation.pipeline import EvaluationRequest, run_evaluation

    def fail(message: str) -> typer.Exit:
        typer.secho(f"civility evaluate: {message}", err=True, fg=typer.colors.RED)
        return typer.Exit(code=2)

    try:
        settings = load_evaluation_config(config) if config else load_evaluation_config()
    except (OSError, ValidationError, ValueError) as exc:
        raise fail(f"invalid evaluation config: {exc}") from None
    moderation_policy = None
    if policy or policy_file is not None:
        try:
            moderation_policy = load_policy(policy_file)
        except ValueError as exc:
            raise fail(str(exc)) from None
    try:
        eval_data = load_eval_data(data, label_ids())
    except EvalDataError as exc:
        raise fail(str(exc)) from None
    if limit is not None:
        eval_data = eval_data.sample(limit)

    from civility.model.scorer import Scorer

    try:
        scorer = Scorer.load(bundle, threads=threads)
    except (BundleError, FileNotFoundError, LookupError, ValueError) as exc:
        raise fail(f"cannot load model {bundle!r}: {exc}") from None

    request = EvaluationRequest(
        data=eval_data,
        out_dir=out,
        baselines=baselines,
        bias=bias,
        functional=functional,
        functional_dir=functional_dir,
        progress=not quiet,
        policy=moderation_policy,
        policy_source=str(policy_file) if policy_file is not None else "configs/policy.yaml",
    )
    try:
        report = run_evaluation(scorer, request, settings)
    except (EvalDataError, BiasDataError, FunctionalSuiteError, ValueError) as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"cannot write the report to {out}: {exc}") from None

    for label, m in report["ranking"]["per_label"].items():
        auc = "–" if m["roc_auc"] is None else f"{m['roc_auc']:.3f}"
        f1 = "–" if m.get("f1") is None else f"{m['f1']:.3f}"
        typer.echo(f"{label:>18}  rows {m['rows']:>6}  ROC-AUC {auc}  F1 {f1}")
    if "policy" in report:
        overall = report["policy"]["overall"]
        shares = "  ".join(f"{key} {100 * overall[key]:.1f}%" for key in ("allow", "review", "reject"))
        typer.echo(f"{'policy':>18}  rows {overall['rows']:>6}  {shares}")
    typer.echo(f"report: {out / 'report.md'} and {out / 'report.json'}")


def register(app: typer.Typer) -> None:
    """Add ``civility evaluate`` to the root app."""
    app.command("evaluate")(evaluate)

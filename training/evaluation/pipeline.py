"""``civility evaluate``: score the data once, run the requested evaluators, write the report.

The evaluators themselves (``ranking``, ``calibration``, ``bias``, ``functional``,
``policy_outcomes``) are pure functions returning dicts, so a promotion gate can call them
directly on its own arrays.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from tqdm import tqdm

from civility.model.bundle import Manifest
from civility.service.policy import Policy
from civility.training.evaluation.baselines import BaselineScores, run_baselines
from civility.training.evaluation.bias import bias_metrics, load_bias_sets
from civility.training.evaluation.calibration import calibration_metrics, plot_reliability
from civility.training.evaluation.config import EvaluationConfig, datasets_dir, repo_root, resolve_under
from civility.training.evaluation.eval_data import EvalData
from civility.training.evaluation.functional import evaluate_functional, load_suites, score_cases
from civility.training.evaluation.policy_outcomes import policy_outcomes
from civility.training.evaluation.ranking import ranking_metrics, ranking_metrics_by_group
from civility.training.evaluation.report import write_report

Report = dict[str, Any]


class ProbabilityModel(Protocol):
    """What evaluation needs from ``civility.model.scorer.Scorer``."""

    @property
    def ref(self) -> str: ...

    @property
    def labels(self) -> list[str]: ...

    @property
    def manifest(self) -> Manifest: ...

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class EvaluationRequest:
    data: EvalData
    out_dir: Path
    baselines: bool = False
    bias: bool = False
    functional: bool = False
    functional_dir: Path | None = None
    progress: bool = True
    policy: Policy | None = None  # set: also report what this policy does with the scores
    policy_source: str = "configs/policy.yaml"  # where ``policy`` came from, for the report


def predict_in_batches(
    model: ProbabilityModel,
    texts: Sequence[str],
    batch_size: int,
    *,
    desc: str = "scoring",
    progress: bool = True,
) -> np.ndarray:
    """(n, n_model_labels) calibrated probabilities in input order.

    Texts are scored ``batch_size`` at a time in order of length, so each batch pads little.
    """
    out = np.zeros((len(texts), len(model.labels)), dtype=np.float64)
    order = np.argsort([len(t) for t in texts], kind="stable")
    bar = tqdm(total=len(texts), desc=desc, unit="text", disable=not progress, file=sys.stderr)
    with bar:
        for start in range(0, len(texts), batch_size):
            index = order[start : start + batch_size]
            out[index] = model.predict_proba([texts[i] for i in index])
            bar.update(len(index))
    return out


def _align(scores: np.ndarray, model_labels: Sequence[str], labels: Sequence[str]) -> np.ndarray:
    """Model scores in ``labels`` order; NaN columns for labels the model does not produce."""
    out = np.full((scores.shape[0], len(labels)), np.nan)
    for j, label in enumerate(labels):
        if label in model_labels:
            out[:, j] = scores[:, list(model_labels).index(label)]
    return out


def _evaluated_labels(data: EvalData, model_labels: Sequence[str]) -> list[str]:
    counts = data.annotated_counts()
    return [label for label in data.labels if counts[label] > 0 and label in model_labels]


def _baseline_section(
    result: BaselineScores, data: EvalData, labels: Sequence[str], config: EvaluationConfig
) -> dict[str, Any]:
    section: dict[str, Any] = {
        "name": result.name,
        "package": result.package,
        "version": result.version,
        "ok": result.ok,
        "notes": result.notes,
        "reference_labels": result.reference_labels,
        "ranking": {},
        "calibration": {},
    }
    if not result.ok:
        return section
    covered = [label for label in labels if label in result.scores]
    if not covered:
        section["notes"] = [*result.notes, "covers none of the evaluated labels"]
        return section
    cols = [data.labels.index(label) for label in covered]
    matrix = np.stack([result.scores[label] for label in covered], axis=1)
    section["ranking"] = ranking_metrics(
        data.targets[:, cols],
        matrix,
        covered,
        dict.fromkeys(covered, config.baselines.decision_threshold),
        binarise_at=config.binarise_at,
    )
    section["calibration"] = {
        label: calibration_metrics(
            data.targets[:, col],
            result.scores[label],
            bins=config.calibration.bins,
            min_rows=config.calibration.min_rows,
        )
        for label, col in zip(covered, cols, strict=True)
    }
    return section


def run_evaluation(model: ProbabilityModel, request: EvaluationRequest, config: EvaluationConfig) -> Report:
    """Evaluate ``model`` on ``request.data`` (and the optional sets); write report.json/.md and plots."""
    started = time.monotonic()
    data = request.data
    out_dir = request.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = model.manifest
    labels = _evaluated_labels(data, model.labels)
    if not labels:
        raise ValueError(
            f"{data.source}: no annotated label that the model {model.ref} produces "
            f"(data annotates {[k for k, v in data.annotated_counts().items() if v]}, "
            f"model labels {model.labels})"
        )
    model_scores = predict_in_batches(model, data.texts, config.batch_size, progress=request.progress)
    scores = _align(model_scores, model.labels, data.labels)
    cols = [data.labels.index(label) for label in labels]
    targets, probs = data.targets[:, cols], scores[:, cols]
    thresholds = {label: manifest.thresholds[label] for label in labels if label in manifest.thresholds}

    report: Report = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": {
            "ref": model.ref,
            "labels": list(model.labels),
            "thresholds": dict(manifest.thresholds),
            "precision_target": manifest.precision_target,
        },
        "data": {
            "source": data.source,
            "rows": len(data.texts),
            "annotated": data.annotated_counts(),
            "corpora": data.corpus_counts(),
            "evaluated_labels": labels,
        },
        "settings": {"binarise_at": config.binarise_at, "calibration_bins": config.calibration.bins},
        "ranking": {
            "per_label": ranking_metrics(targets, probs, labels, thresholds, binarise_at=config.binarise_at),
            "per_corpus": (
                ranking_metrics_by_group(
                    targets, probs, labels, data.corpora, thresholds, binarise_at=config.binarise_at
                )
                if data.corpora is not None
                else {}
            ),
        },
        "calibration": {
            label: calibration_metrics(
                targets[:, j], probs[:, j], bins=config.calibration.bins, min_rows=config.calibration.min_rows
            )
            for j, label in enumerate(labels)
        },
        "plots": {},
    }

    baseline_sections: list[dict[str, Any]] = []
    if request.baselines:
        for result in run_baselines(data.texts, config.baselines):
            baseline_sections.append(_baseline_section(result, data, labels, config))
        report["baselines"] = baseline_sections

    for label in labels:
        curves = {model.ref: report["calibration"][label]}
        for section in baseline_sections:
            if label in section["calibration"]:
                suffix = " (reference)" if label in section["reference_labels"] else ""
                curves[f"{section['name']}{suffix}"] = section["calibration"][label]
        if curves[model.ref]["ece"] is None:
            continue
        name = f"reliability_{label}.png"
        plot_reliability(curves, out_dir / name, title=f"{label} — {data.source}")
        report["plots"][label] = name

    if request.bias:
        report["bias"] = _bias_section(
            model, config, progress=request.progress, with_baselines=request.baselines
        )
    if request.functional:
        report["functional"] = _functional_section(model, config, request)
    if request.policy is not None:
        report["policy"] = {
            "source": request.policy_source,
            "config": request.policy.config.model_dump(mode="json"),
            **policy_outcomes(
                data.texts,
                model_scores,
                model.labels,
                data.targets,
                data.labels,
                data.corpora,
                request.policy,
                reference_labels=config.policy.reference_labels,
                binarise_at=config.binarise_at,
                min_corpus_rows=config.policy.min_corpus_rows,
            ),
        }

    report["elapsed_seconds"] = round(time.monotonic() - started, 1)
    write_report(report, out_dir)
    return report


def _bias_section(
    model: ProbabilityModel, config: EvaluationConfig, *, progress: bool, with_baselines: bool
) -> dict[str, Any]:
    label = config.bias.label
    section: dict[str, Any] = {"label": label, "sets": {}}
    if label not in model.labels:
        section["note"] = f"the model does not produce {label!r}"
        return section
    column = list(model.labels).index(label)
    settings: dict[str, Any] = {
        "power_mean_p": config.bias.power_mean_p,
        "overall_weight": config.bias.overall_weight,
        "min_subgroup_rows": config.bias.min_subgroup_rows,
        "binarise_at": config.binarise_at,
    }
    for bias_set in load_bias_sets(config.bias, datasets_dir()):
        probs = predict_in_batches(
            model, bias_set.texts, config.batch_size, desc=f"bias: {bias_set.name}", progress=progress
        )
        metrics = bias_metrics(bias_set.y_true, probs[:, column], bias_set.subgroups, **settings)
        entry: dict[str, Any] = {"note": bias_set.note, **metrics}
        if with_baselines:
            entry["baselines"] = {
                result.name: bias_metrics(
                    bias_set.y_true, result.scores[label], bias_set.subgroups, **settings
                )
                for result in run_baselines(bias_set.texts, config.baselines)
                if result.ok and label in result.scores
            }
        section["sets"][bias_set.name] = entry
    return section


def _functional_section(
    model: ProbabilityModel, config: EvaluationConfig, request: EvaluationRequest
) -> dict[str, Any]:
    directory = request.functional_dir or resolve_under(repo_root(), config.functional.suites_dir)
    cases = load_suites(directory)
    thresholds = {"low_below": config.functional.low_below, "high_at_least": config.functional.high_at_least}
    result = evaluate_functional(cases, score_cases(cases, model.predict_proba, model.labels), **thresholds)
    section: dict[str, Any] = {"suites_dir": str(directory), **result}
    if request.baselines:
        texts = sorted({case.text for case in cases})
        row = {text: i for i, text in enumerate(texts)}
        section["baselines"] = {}
        for baseline in run_baselines(texts, config.baselines):
            if not baseline.ok:
                continue
            scores = [
                baseline.scores[case.label][row[case.text]] if case.label in baseline.scores else np.nan
                for case in cases
            ]
            section["baselines"][baseline.name] = evaluate_functional(cases, scores, **thresholds)
    return section

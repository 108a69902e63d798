"""Functional suites: small hand-written checks of known failure modes of toxicity classifiers.

Each suite is a JSON Lines file of ``{"text", "label", "expect": "low"|"high", "suite"}`` rows
(``tests/data/functional/*.jsonl``). Two pass criteria are reported:

- threshold: an item expected ``low`` passes when its score is below ``low_below``, one expected
  ``high`` when its score is at least ``high_at_least``;
- rank: within a suite and label, every (high, low) pair should have the high item scoring above
  the low one. ``rank_accuracy`` is the fraction of such pairs ordered correctly (ties count half:
  the AUC of high vs low), ``rank_pass`` says whether all of them are.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

Metrics = dict[str, Any]


class FunctionalCase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str = Field(min_length=1)
    label: str = Field(pattern=r"^[a-z_]+$")
    expect: Literal["low", "high"]
    suite: str = Field(pattern=r"^[a-z0-9_]+$")


class FunctionalSuiteError(ValueError):
    """A functional suite file is missing or malformed."""


def load_suite_file(path: Path, known_labels: Sequence[str] | None = None) -> list[FunctionalCase]:
    """Read one JSONL suite file; every row is validated, errors name the file and line."""
    cases: list[FunctionalCase] = []
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                case = FunctionalCase.model_validate(json.loads(line))
            except json.JSONDecodeError as exc:
                raise FunctionalSuiteError(f"{where}: not valid JSON ({exc.msg})") from None
            except ValidationError as exc:
                problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
                raise FunctionalSuiteError(f"{where}: {problems}") from None
            if known_labels is not None and case.label not in known_labels:
                raise FunctionalSuiteError(
                    f"{where}: unknown label {case.label!r} (labels: {list(known_labels)})"
                )
            cases.append(case)
    if not cases:
        raise FunctionalSuiteError(f"{path}: no cases")
    return cases


def load_suites(directory: Path, known_labels: Sequence[str] | None = None) -> list[FunctionalCase]:
    """Every ``*.jsonl`` suite file in ``directory``, in file-name order."""
    if not directory.is_dir():
        raise FunctionalSuiteError(f"functional suites directory not found: {directory}")
    files = sorted(directory.glob("*.jsonl"))
    if not files:
        raise FunctionalSuiteError(f"no *.jsonl functional suites in {directory}")
    return [case for path in files for case in load_suite_file(path, known_labels)]


def score_cases(
    cases: Sequence[FunctionalCase],
    predict_proba: Callable[[Sequence[str]], np.ndarray],
    model_labels: Sequence[str],
) -> np.ndarray:
    """The score of each case's label (distinct texts scored once); NaN where the model lacks the label."""
    texts = sorted({case.text for case in cases})
    probs = np.asarray(predict_proba(texts), dtype=np.float64) if texts else np.zeros((0, len(model_labels)))
    row = {text: i for i, text in enumerate(texts)}
    column = {label: j for j, label in enumerate(model_labels)}
    return np.array(
        [probs[row[c.text], column[c.label]] if c.label in column else np.nan for c in cases],
        dtype=np.float64,
    )


def _rank(high: np.ndarray, low: np.ndarray) -> tuple[int, float]:
    """Number of (high, low) pairs and how many are ordered correctly (ties count half)."""
    if len(high) == 0 or len(low) == 0:
        return 0, 0.0
    diff = high[:, None] - low[None, :]
    return int(diff.size), float((diff > 0).sum() + 0.5 * (diff == 0).sum())


def _summary(expect: np.ndarray, scores: np.ndarray, low_below: float, high_at_least: float) -> Metrics:
    high = expect == "high"
    passed = np.where(high, scores >= high_at_least, scores < low_below)
    pairs, correct = _rank(scores[high], scores[~high])
    return {
        "items": len(scores),
        "high_items": int(high.sum()),
        "low_items": int((~high).sum()),
        "passed": int(passed.sum()),
        "threshold_pass_rate": float(passed.mean()) if len(scores) else None,
        "rank_pairs": pairs,
        "rank_correct": correct,
        "rank_accuracy": correct / pairs if pairs else None,
        "rank_pass": (correct == pairs) if pairs else None,
    }


def evaluate_functional(
    cases: Sequence[FunctionalCase],
    case_scores: Sequence[float] | np.ndarray,
    *,
    low_below: float = 0.5,
    high_at_least: float = 0.5,
) -> Metrics:
    """Pass rates per suite (and per label within a suite) and overall, plus the failing items.

    Cases whose score is NaN (label not produced by the model) are counted under ``skipped``.
    Rank pairs are formed within a suite and label only; a suite's rank accuracy pools its labels' pairs.
    """
    scores = np.asarray(case_scores, dtype=np.float64)
    if len(scores) != len(cases):
        raise ValueError(f"{len(scores)} scores for {len(cases)} cases")
    by_suite: dict[str, list[int]] = defaultdict(list)
    skipped: dict[str, int] = defaultdict(int)
    for i, case in enumerate(cases):
        if np.isnan(scores[i]):
            skipped[case.suite] += 1
        else:
            by_suite[case.suite].append(i)
    suites: dict[str, Metrics] = {}
    for suite, index in sorted(by_suite.items()):
        idx = np.array(index)
        expect = np.array([cases[i].expect for i in idx])
        summary = _summary(expect, scores[idx], low_below, high_at_least)
        labels: dict[str, Metrics] = {}
        pairs, correct = 0, 0.0
        for label in sorted({cases[i].label for i in idx}):
            sub = np.array([i for i in idx if cases[i].label == label])
            labels[label] = _summary(
                np.array([cases[i].expect for i in sub]), scores[sub], low_below, high_at_least
            )
            pairs += labels[label]["rank_pairs"]
            correct += labels[label]["rank_correct"]
        summary.update(
            rank_pairs=pairs,
            rank_correct=correct,
            rank_accuracy=correct / pairs if pairs else None,
            rank_pass=(correct == pairs) if pairs else None,
            skipped=skipped.get(suite, 0),
            labels=labels,
            failures=[
                {
                    "text": cases[i].text,
                    "label": cases[i].label,
                    "expect": cases[i].expect,
                    "score": float(scores[i]),
                }
                for i in idx
                if (scores[i] < high_at_least if cases[i].expect == "high" else scores[i] >= low_below)
            ],
        )
        suites[suite] = summary
    for suite, count in skipped.items():
        if suite not in suites:
            suites[suite] = {"items": 0, "skipped": count, "labels": {}, "failures": []}
    scored = ~np.isnan(scores)
    total_pairs = sum(s.get("rank_pairs", 0) for s in suites.values())
    total_correct = sum(s.get("rank_correct", 0.0) for s in suites.values())
    passed = sum(s.get("passed", 0) for s in suites.values())
    overall: Metrics = {
        "items": int(scored.sum()),
        "skipped": int((~scored).sum()),
        "passed": passed,
        "threshold_pass_rate": passed / int(scored.sum()) if scored.any() else None,
        "rank_pairs": total_pairs,
        "rank_accuracy": total_correct / total_pairs if total_pairs else None,
    }
    return {
        "low_below": low_below,
        "high_at_least": high_at_least,
        "overall": overall,
        "suites": suites,
    }

"""Likely label errors, found with cleanlab's confident learning.

Our data is multi-label with *missing* labels (a corpus that does not annotate a label leaves it
None), so each label is checked on its own as a binary task over the rows that carry it:
given label (soft values binarised at ``binarize_at``) against the out-of-sample predicted
probability for that label. ``cleanlab.filter.find_label_issues`` flags the rows, and
``cleanlab.rank.get_label_quality_scores`` ranks them (lowest quality first) across labels.

Predicted probabilities come from a scores JSONL, one object per comment: ``{"id": ..,
"scores": {label: p}}`` (what ``civility score`` writes) or ``{"id": .., label: p, ...}``;
rows are joined by id, or by text when the scores file has no ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from civility.training.labeling.label_files import LabelFileError, iter_json_lines, text_key
from civility.training.labeling.settings import IssuesConfig

_EPS = 1e-6


@dataclass(frozen=True)
class LabelledRow:
    id: str
    text: str
    labels: dict[str, float | None]
    split: str | None = None


@dataclass(frozen=True)
class LabelIssue:
    id: str
    text: str
    label: str
    given: float
    predicted: float
    label_quality: float
    split: str | None

    def as_json(self, rank: int) -> dict[str, Any]:
        return {
            "rank": rank,
            "id": self.id,
            "label": self.label,
            "given": self.given,
            "predicted": round(self.predicted, 4),
            "label_quality": round(self.label_quality, 6),
            "split": self.split,
            "text": self.text,
        }


@dataclass(frozen=True)
class LabelSummary:
    label: str
    rows: int
    issues: int
    skipped: str | None = None


def load_labelled(path: Path, labels: Sequence[str]) -> list[LabelledRow]:
    """Rows from a ``civility build-data`` directory (all splits) or a label JSONL file."""
    if path.is_dir():
        return _from_dataset_dir(path, labels)
    rows = []
    for line_no, row in iter_json_lines(path):
        text = row.get("text")
        if not isinstance(text, str) or not text:
            raise LabelFileError(f"{path}:{line_no}: every line needs a non-empty 'text'")
        given: dict[str, Any] = row["labels"] if isinstance(row.get("labels"), dict) else row
        values = {label: _optional_float(given.get(label), path, line_no) for label in labels}
        rows.append(LabelledRow(str(row.get("id") or text_key(text)), text, values, row.get("split")))
    return rows


def _from_dataset_dir(path: Path, labels: Sequence[str]) -> list[LabelledRow]:
    from datasets import Dataset, DatasetDict, load_from_disk

    try:
        loaded = load_from_disk(str(path))
    except (FileNotFoundError, ValueError) as exc:
        raise LabelFileError(f"{path}: not a saved datasets directory ({exc})") from exc
    splits: dict[str | None, Dataset] = (
        {str(name): split for name, split in loaded.items()}
        if isinstance(loaded, DatasetDict)
        else {None: loaded}
    )
    rows = []
    for split_name, split in splits.items():
        missing = [c for c in ("id", "text") if c not in split.column_names]
        if missing:
            raise LabelFileError(f"{path}: split {split_name} lacks columns {missing}")
        present = [label for label in labels if label in split.column_names]
        for record in split.select_columns(["id", "text", *present]):
            values = {label: record.get(label) for label in labels}
            rows.append(LabelledRow(str(record["id"]), str(record["text"]), values, split_name))
    return rows


def load_scores(path: Path, labels: Sequence[str]) -> dict[str, dict[str, float]]:
    """Predicted probabilities keyed by comment id and by text key."""
    scores: dict[str, dict[str, float]] = {}
    for line_no, row in iter_json_lines(path):
        given: dict[str, Any] = row["scores"] if isinstance(row.get("scores"), dict) else row
        values = {}
        for label in labels:
            value = _optional_float(given.get(label), path, line_no)
            if value is not None:
                values[label] = value
        if not values:
            raise LabelFileError(f"{path}:{line_no}: no scores for any of {', '.join(labels)}")
        if row.get("id") is not None:
            scores[str(row["id"])] = values
        if isinstance(row.get("text"), str):
            scores[text_key(row["text"])] = values
    if not scores:
        raise LabelFileError(f"{path}: no scores")
    return scores


def find_issues(
    rows: Sequence[LabelledRow],
    scores: dict[str, dict[str, float]],
    labels: Sequence[str],
    config: IssuesConfig,
) -> tuple[list[LabelIssue], list[LabelSummary]]:
    """Likely label errors over all labels, most likely first, and a per-label summary."""
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    issues: list[LabelIssue] = []
    summaries: list[LabelSummary] = []
    for label in labels:
        picked: list[tuple[LabelledRow, float, float]] = []
        for row in rows:
            given = row.labels.get(label)
            predicted = (scores.get(row.id) or scores.get(text_key(row.text)) or {}).get(label)
            if given is not None and predicted is not None:
                picked.append((row, given, predicted))
        y = np.array([int(given >= config.binarize_at) for _, given, _ in picked], dtype=int)
        positives = int(y.sum())
        if min(positives, len(y) - positives) < config.min_per_class:
            reason = (
                f"needs {config.min_per_class} positives and negatives with scores; has {positives}/{len(y)}"
            )
            summaries.append(LabelSummary(label, len(picked), 0, reason))
            continue
        p = np.clip(np.array([predicted for _, _, predicted in picked], dtype=float), _EPS, 1 - _EPS)
        pred_probs = np.column_stack([1 - p, p])
        flagged = find_label_issues(y, pred_probs, filter_by=config.filter_by, n_jobs=1)
        quality = get_label_quality_scores(y, pred_probs, method=config.rank_by)
        for index in np.flatnonzero(flagged):
            row, given, predicted = picked[index]
            issues.append(
                LabelIssue(row.id, row.text, label, given, predicted, float(quality[index]), row.split)
            )
        summaries.append(LabelSummary(label, len(picked), int(flagged.sum())))
    issues.sort(key=lambda issue: (issue.label_quality, issue.label, issue.id))
    return issues, summaries


def _optional_float(value: Any, path: Path, line_no: int) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise LabelFileError(f"{path}:{line_no}: expected a number, got {value!r}")
    if not 0.0 <= float(value) <= 1.0:
        raise LabelFileError(f"{path}:{line_no}: value {value} outside [0, 1]")
    return float(value)

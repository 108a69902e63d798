"""Ranking and thresholded metrics: ROC-AUC, PR-AUC, F1 at the stored threshold, confusion counts.

Pure functions over arrays. Targets may be soft (rater fractions) and may be missing
(NaN = the corpus does not annotate the label): missing rows are left out per label and soft
targets are binarised at ``binarise_at``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, confusion_matrix, roc_auc_score

Metrics = dict[str, Any]


def _annotated(y_true: np.ndarray, y_score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true, dtype=np.float64)
    y_score = np.asarray(y_score, dtype=np.float64)
    if y_true.shape != y_score.shape or y_true.ndim != 1:
        raise ValueError(f"targets {y_true.shape} and scores {y_score.shape} must be 1-D and the same length")
    keep = np.isfinite(y_true)
    if not np.isfinite(y_score[keep]).all():
        raise ValueError("scores contain NaN or infinity")
    return y_true[keep], y_score[keep]


def label_ranking_metrics(
    y_true: np.ndarray, y_score: np.ndarray, threshold: float | None, *, binarise_at: float = 0.5
) -> Metrics:
    """Metrics of one label over the annotated rows.

    Returns ``rows``, ``positives``; ``roc_auc`` and ``pr_auc`` (None when only one class is
    present); with a threshold also ``threshold``, ``tp``, ``fp``, ``tn``, ``fn``, ``precision``,
    ``recall``, ``f1`` (precision/recall/F1 are None when undefined: nothing predicted / no positives).
    """
    y_soft, score = _annotated(y_true, y_score)
    y = (y_soft >= binarise_at).astype(np.int64)
    positives = int(y.sum())
    out: Metrics = {"rows": len(y), "positives": positives, "roc_auc": None, "pr_auc": None}
    if 0 < positives < len(y):
        out["roc_auc"] = float(roc_auc_score(y, score))
        out["pr_auc"] = float(average_precision_score(y, score))
    if threshold is not None and len(y):
        pred = (score >= threshold).astype(np.int64)
        tn, fp, fn, tp = (int(v) for v in confusion_matrix(y, pred, labels=[0, 1]).ravel())
        precision = tp / (tp + fp) if tp + fp else None
        recall = tp / (tp + fn) if tp + fn else None
        f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None
        out.update(
            threshold=float(threshold), tp=tp, fp=fp, tn=tn, fn=fn, precision=precision, recall=recall, f1=f1
        )
    return out


def ranking_metrics(
    targets: np.ndarray,
    scores: np.ndarray,
    labels: Sequence[str],
    thresholds: Mapping[str, float] | None = None,
    *,
    binarise_at: float = 0.5,
) -> dict[str, Metrics]:
    """Per-label metrics for (n, n_labels) targets and scores; labels with no annotated row are omitted."""
    targets = np.asarray(targets, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    if targets.shape != scores.shape or targets.ndim != 2 or targets.shape[1] != len(labels):
        raise ValueError(
            f"targets {targets.shape} and scores {scores.shape} must both be (n, {len(labels)}) "
            f"for labels {labels}"
        )
    thresholds = thresholds or {}
    out: dict[str, Metrics] = {}
    for j, label in enumerate(labels):
        if not np.isfinite(targets[:, j]).any():
            continue
        out[label] = label_ranking_metrics(
            targets[:, j], scores[:, j], thresholds.get(label), binarise_at=binarise_at
        )
    return out


def ranking_metrics_by_group(
    targets: np.ndarray,
    scores: np.ndarray,
    labels: Sequence[str],
    groups: Sequence[str],
    thresholds: Mapping[str, float] | None = None,
    *,
    binarise_at: float = 0.5,
) -> dict[str, dict[str, Metrics]]:
    """``ranking_metrics`` for each group (e.g. corpus) separately: ``{group: {label: metrics}}``."""
    group_arr = np.asarray(groups, dtype=object)
    if len(group_arr) != len(targets):
        raise ValueError(f"{len(group_arr)} group names for {len(targets)} rows")
    out: dict[str, dict[str, Metrics]] = {}
    for group in sorted({str(g) for g in group_arr}):
        rows = group_arr == group
        out[group] = ranking_metrics(targets[rows], scores[rows], labels, thresholds, binarise_at=binarise_at)
    return out

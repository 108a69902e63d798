"""Metrics over masked soft multi-label predictions (ranking, thresholded, calibration).

Soft targets are binarised at 0.5 for ranking and thresholded metrics; missing targets (NaN)
are excluded per label. Calibration error compares predictions with the soft targets.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, f1_score, precision_score, recall_score, roc_auc_score

BINARISE_AT = 0.5


def annotated(targets: np.ndarray) -> np.ndarray:
    return np.isfinite(targets)


def binary(targets: np.ndarray) -> np.ndarray:
    return (targets >= BINARISE_AT).astype(np.int64)


def masked_auc(scores: np.ndarray, targets: np.ndarray) -> float | None:
    """ROC-AUC of one label over annotated rows; None when only one class is present."""
    keep = annotated(targets)
    y = binary(targets[keep])
    if y.min(initial=1) == y.max(initial=0):
        return None
    return float(roc_auc_score(y, scores[keep]))


def mean_masked_auc(scores: np.ndarray, targets: np.ndarray) -> tuple[float | None, dict[str, float]]:
    """Mean ROC-AUC over the labels (columns) that have both classes; also the per-column values."""
    per: dict[str, float] = {}
    for j in range(targets.shape[1]):
        auc = masked_auc(scores[:, j], targets[:, j])
        if auc is not None:
            per[str(j)] = auc
    return (float(np.mean(list(per.values()))) if per else None), per


def expected_calibration_error(probs: np.ndarray, targets: np.ndarray, bins: int) -> float | None:
    """Equal-width-bin ECE of one label against soft targets, over annotated rows."""
    keep = annotated(targets)
    if not keep.any():
        return None
    p, y = probs[keep], targets[keep]
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        in_bin = which == b
        if in_bin.any():
            ece += in_bin.mean() * abs(float(p[in_bin].mean()) - float(y[in_bin].mean()))
    return float(ece)


def label_metrics(probs: np.ndarray, targets: np.ndarray, threshold: float) -> dict[str, Any]:
    """Ranking and thresholded metrics of one label over annotated rows."""
    keep = annotated(targets)
    y = binary(targets[keep])
    p = probs[keep]
    pred = (p >= threshold).astype(np.int64)
    out: dict[str, Any] = {"rows": int(keep.sum()), "positives": int(y.sum())}
    if 0 < y.sum() < len(y):
        out["roc_auc"] = float(roc_auc_score(y, p))
        out["pr_auc"] = float(average_precision_score(y, p))
    if len(y):
        out["precision"] = float(precision_score(y, pred, zero_division=0))
        out["recall"] = float(recall_score(y, pred, zero_division=0))
        out["f1"] = float(f1_score(y, pred, zero_division=0))
        out["flagged"] = int(pred.sum())
    return out


def metrics_table(
    probs: np.ndarray,
    targets: np.ndarray,
    labels: Sequence[str],
    thresholds: dict[str, float],
    corpus: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Per-label metrics, their macro means, and the same per corpus (when corpus names are given)."""

    def table(rows: np.ndarray, *, skip_unannotated: bool = False) -> dict[str, Any]:
        per = {
            label: label_metrics(probs[rows, j], targets[rows, j], thresholds[label])
            for j, label in enumerate(labels)
            if not skip_unannotated or annotated(targets[rows, j]).any()
        }
        summary: dict[str, Any] = {"labels": per}
        for key in ("roc_auc", "pr_auc", "f1"):
            values = [m[key] for m in per.values() if key in m]
            if values:
                summary[f"mean_{key}"] = float(np.mean(values))
        return summary

    result = table(np.arange(len(probs)))
    if corpus is not None:
        names = np.asarray(corpus)
        result["by_corpus"] = {
            name: table(np.flatnonzero(names == name), skip_unannotated=True) for name in sorted(set(corpus))
        }
    return result

"""Calibration: expected calibration error, Brier score, reliability curve and its plot.

A calibrated score of 0.8 should mean "about 80% of careful raters would apply this label",
so predictions are compared with the soft targets (rater fractions) themselves, not with
binarised ones. Bins are equal-width and right-closed, as in
``sklearn.calibration.calibration_curve(strategy="uniform")``.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

Metrics = dict[str, Any]


def reliability_bins(y_true: np.ndarray, y_prob: np.ndarray, bins: int) -> list[Metrics]:
    """Per-bin ``lower``, ``upper``, ``rows``, ``mean_predicted``, ``mean_observed`` over annotated rows.

    Empty bins are omitted.
    """
    y_true = np.asarray(y_true, dtype=np.float64)
    y_prob = np.asarray(y_prob, dtype=np.float64)
    if y_true.shape != y_prob.shape or y_true.ndim != 1:
        raise ValueError(f"targets {y_true.shape} and probabilities {y_prob.shape} must be 1-D, same length")
    keep = np.isfinite(y_true)
    y, p = y_true[keep], y_prob[keep]
    if ((p < 0) | (p > 1)).any() or not np.isfinite(p).all():
        raise ValueError("probabilities must lie in [0, 1]")
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.searchsorted(edges[1:-1], p)
    out: list[Metrics] = []
    for b in range(bins):
        in_bin = which == b
        if in_bin.any():
            out.append(
                {
                    "lower": float(edges[b]),
                    "upper": float(edges[b + 1]),
                    "rows": int(in_bin.sum()),
                    "mean_predicted": float(p[in_bin].mean()),
                    "mean_observed": float(y[in_bin].mean()),
                }
            )
    return out


def calibration_metrics(
    y_true: np.ndarray, y_prob: np.ndarray, *, bins: int = 10, min_rows: int = 1
) -> Metrics:
    """``ece`` (row-weighted mean |observed - predicted| over bins), ``brier``, ``rows`` and ``bins``.

    With fewer than ``min_rows`` annotated rows, ``ece`` and ``brier`` are None.
    """
    curve = reliability_bins(y_true, y_prob, bins)
    rows = sum(b["rows"] for b in curve)
    if rows < min_rows or rows == 0:
        return {"rows": rows, "ece": None, "brier": None, "bins": curve}
    ece = sum(b["rows"] * abs(b["mean_observed"] - b["mean_predicted"]) for b in curve) / rows
    keep = np.isfinite(np.asarray(y_true, dtype=np.float64))
    diff = np.asarray(y_prob, dtype=np.float64)[keep] - np.asarray(y_true, dtype=np.float64)[keep]
    return {"rows": rows, "ece": float(ece), "brier": float(np.mean(diff**2)), "bins": curve}


def plot_reliability(curves: Mapping[str, Metrics], path: Path, *, title: str) -> Path:
    """Write a reliability diagram PNG: one line per curve (e.g. model vs baselines), bin sizes as bars.

    ``curves`` maps a legend name to a ``calibration_metrics`` result.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, ax_hist) = plt.subplots(
        2, 1, figsize=(5.5, 6.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    try:
        ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="perfectly calibrated")
        for index, (name, metrics) in enumerate(curves.items()):
            curve = metrics["bins"]
            if not curve:
                continue
            ece = metrics.get("ece")
            legend = f"{name} (ECE {ece:.3f})" if ece is not None else name
            xs = [b["mean_predicted"] for b in curve]
            ax.plot(xs, [b["mean_observed"] for b in curve], marker="o", linewidth=1.5, label=legend)
            if index == 0:  # row counts of the first curve (the model under evaluation)
                centres = [(b["lower"] + b["upper"]) / 2 for b in curve]
                widths = [0.9 * (b["upper"] - b["lower"]) for b in curve]
                ax_hist.bar(centres, [b["rows"] for b in curve], width=widths, alpha=0.6)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_ylabel("observed rate (mean soft label)")
        ax.set_title(textwrap.fill(title, width=60), fontsize=10)
        ax.legend(loc="upper left", fontsize=8)
        ax_hist.set_xlabel("predicted probability")
        ax_hist.set_ylabel("rows")
        ax_hist.set_yscale("log")
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=100)
    finally:
        plt.close(fig)
    return path

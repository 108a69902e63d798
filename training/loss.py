"""Masked, weighted binary cross-entropy on soft multi-label targets."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def pos_weights(prevalence: np.ndarray, cap: float) -> np.ndarray:
    """Per-label positive-class weight ``(1 - p) / p``, clipped to ``[1, cap]``.

    Labels with no annotated rows (NaN prevalence) or no positives get ``cap``; it does not
    matter for the former (they are fully masked) and is the strongest allowed push for the latter.
    """
    p = np.asarray(prevalence, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (1.0 - p) / p
    ratio = np.where(np.isfinite(ratio), ratio, cap)
    return np.clip(ratio, 1.0, cap).astype(np.float32)


def masked_bce(
    logits: torch.Tensor,
    targets: torch.Tensor,
    row_weights: torch.Tensor,
    pos_weight: torch.Tensor | None = None,
    label_weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean BCE over annotated (row, label) cells; NaN targets are missing and contribute nothing.

    Each cell is weighted by its row's weight (and its label's weight, if given); the result is
    normalised by the total weight of the annotated cells, so a batch's loss does not depend on how
    many labels happen to be missing.
    """
    mask = torch.isfinite(targets)
    safe_targets = torch.where(mask, targets, torch.zeros_like(targets))
    per_cell = F.binary_cross_entropy_with_logits(
        logits, safe_targets, pos_weight=pos_weight, reduction="none"
    )
    cell_weights = mask.to(logits.dtype) * row_weights.to(logits.dtype).unsqueeze(1)
    if label_weights is not None:
        cell_weights = cell_weights * label_weights.to(logits.dtype).unsqueeze(0)
    total = cell_weights.sum()
    if total <= 0:
        return logits.sum() * 0.0  # keeps the graph; nothing annotated in this batch
    return (per_cell * cell_weights).sum() / total

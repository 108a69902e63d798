"""Apply a bundle's per-label calibration to raw model outputs (numpy, vectorised)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

from civility.model.bundle import BundleError, Calibration

FloatArray = NDArray[np.float64]


def sigmoid(x: NDArray[np.floating]) -> FloatArray:
    """Numerically stable logistic function."""
    x = np.asarray(x, dtype=np.float64)
    out = np.empty_like(x)
    positive = x >= 0
    out[positive] = 1.0 / (1.0 + np.exp(-x[positive]))
    exp_x = np.exp(x[~positive])
    out[~positive] = exp_x / (1.0 + exp_x)
    return out


def check_calibration(label: str, calibration: Calibration) -> None:
    """Refuse a calibration that cannot be applied, with a message naming the label."""
    if calibration.method == "isotonic":
        x = np.asarray(calibration.x, dtype=np.float64)
        y = np.asarray(calibration.y, dtype=np.float64)
        if x.size == 0 or x.size != y.size:
            raise BundleError(f"calibration for {label!r}: isotonic needs equal, non-empty x and y")
        if np.any(np.diff(x) < 0):
            raise BundleError(f"calibration for {label!r}: isotonic x must be sorted ascending")
    elif calibration.method == "temperature" and calibration.temperature <= 0:
        raise BundleError(f"calibration for {label!r}: temperature must be positive")


def calibrate_column(logits: NDArray[np.floating], calibration: Calibration) -> FloatArray:
    """Calibrated probabilities for one label from its logits (any shape)."""
    if calibration.method == "temperature":
        return sigmoid(np.asarray(logits, dtype=np.float64) / calibration.temperature + calibration.bias)
    raw = sigmoid(logits)
    if calibration.method == "isotonic":
        # np.interp clips outside [x[0], x[-1]] like IsotonicRegression(out_of_bounds="clip").
        return np.interp(raw, calibration.x, calibration.y).astype(np.float64)
    return raw


class Calibrator:
    """Calibration for every label of a model, in output order."""

    def __init__(self, labels: Sequence[str], calibrations: Mapping[str, Calibration]) -> None:
        self.labels = list(labels)
        self.calibrations = [calibrations.get(label, Calibration()) for label in self.labels]
        for label, calibration in zip(self.labels, self.calibrations, strict=True):
            check_calibration(label, calibration)

    def __call__(self, logits: NDArray[np.floating]) -> FloatArray:
        """``(n, n_labels)`` logits -> ``(n, n_labels)`` calibrated probabilities."""
        logits = np.asarray(logits)
        if logits.ndim != 2 or logits.shape[1] != len(self.labels):
            raise ValueError(f"expected logits of shape (n, {len(self.labels)}), got {logits.shape}")
        out = np.empty(logits.shape, dtype=np.float64)
        for j, calibration in enumerate(self.calibrations):
            out[:, j] = calibrate_column(logits[:, j], calibration)
        return out

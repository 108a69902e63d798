"""Batched inference with the PyTorch model over a tokenised split (length-sorted batches)."""

from __future__ import annotations

import numpy as np
import torch

from civility.training.trainer_data import Encoded, collate, sorted_batches


@torch.no_grad()
def predict_logits(
    model: torch.nn.Module, encoded: Encoded, batch_size: int, pad_id: int, device: torch.device
) -> np.ndarray:
    """Logits ``(rows, labels)`` in the rows' original order; restores the model's train/eval mode."""
    was_training = model.training
    model.eval()
    out: np.ndarray | None = None
    try:
        for index in sorted_batches(encoded.lengths, batch_size):
            logits = model(**collate(encoded, index, pad_id, device)).logits.float().cpu().numpy()
            if out is None:
                out = np.zeros((len(encoded), logits.shape[1]), dtype=np.float32)
            out[index] = logits
    finally:
        model.train(was_training)
    if out is None:
        raise ValueError("nothing to predict: the split is empty")
    return out


def sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)), dtype=np.float64)

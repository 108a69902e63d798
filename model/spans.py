"""Which words drive a label: word-level occlusion, batched.

For a text and each label scoring at least ``spans.label_floor``, every word of the
*normalised* text is removed in turn (all variants scored in one batched pass) and the drop
in that label's score is the word's weight: the larger of the drop in calibrated probability
and the drop in the model's raw (uncalibrated) probability. Calibration curves are flat in
places (isotonic steps, the plateau at 1.0), where taking out one decisive word of a clearly
abusive comment may not move the calibrated score at all; the raw probability still moves.
Words whose drop is at least ``spans.min_drop`` form spans; adjacent such words merge into one
span scored by their largest drop. Offsets are mapped back to the ORIGINAL text through the
normaliser's offsets, so ``f u c k`` or ``іdіоt`` is reported where the user wrote it.

A long comment with more than ``spans.max_units`` words is occluded in that many groups of
adjacent words instead of word by word, so the cost per text is bounded.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray
from tokenizers import Encoding

from civility.model.calibration import sigmoid
from civility.model.normalize import Normalized

if TYPE_CHECKING:
    from civility.model.scorer import Scorer, Span

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")


def word_units(text: str, max_units: int) -> list[tuple[int, int]]:
    """Half-open character ranges of words in ``text``, grouped to at most ``max_units``."""
    words = [m.span() for m in _WORD.finditer(text)]
    if len(words) <= max_units:
        return words
    size = math.ceil(len(words) / max_units)
    return [(words[i][0], words[min(i + size, len(words)) - 1][1]) for i in range(0, len(words), size)]


def _window_range(window: Encoding) -> tuple[int, int]:
    """Character range of the text covered by one token window (first segment only)."""
    offsets = [off for off, seq in zip(window.offsets, window.sequence_ids, strict=True) if seq == 0]
    return (offsets[0][0], offsets[-1][1]) if offsets else (0, 0)


def _occluded_logits(
    scorer: Scorer, text: str, units: list[tuple[int, int]], context: str | None
) -> NDArray[np.float32]:
    """Max-over-windows logits of ``text`` with each unit removed, ``(units, labels)``.

    A text of one window is re-scored whole without the unit. For a text of several
    windows only the windows that contain the unit are re-scored (without it); the others
    keep their logits, so occluding a long comment costs about one window per unit.
    """
    windows, _ = scorer.encode([text], [context])
    if len(windows) == 1:
        whole = [text[:begin] + text[end:] for begin, end in units]
        return scorer.max_logits(whole, [context] * len(whole))
    window_logits = scorer.run(windows)
    ranges = [_window_range(w) for w in windows]
    occluded = np.full((len(units), len(scorer.labels)), -np.inf, dtype=np.float32)
    variants: list[str] = []
    owners: list[int] = []
    for k, (begin, end) in enumerate(units):
        for w, (start, stop) in enumerate(ranges):
            if begin < stop and end > start:
                variants.append(text[start : max(begin, start)] + text[min(end, stop) : stop])
                owners.append(k)
            else:
                occluded[k] = np.maximum(occluded[k], window_logits[w])
    if variants:
        np.maximum.at(occluded, np.asarray(owners), scorer.max_logits(variants, [context] * len(variants)))
    return occluded


def occlusion_spans(
    scorer: Scorer,
    normalized: Normalized,
    probs: NDArray[np.float64],
    label_indices: Sequence[int],
    context: str | None = None,
) -> dict[str, list[Span]]:
    """Spans per label (every requested label is a key; labels under the floor get ``[]``)."""
    from civility.model.scorer import Span

    config = scorer.config.spans
    result: dict[str, list[Span]] = {scorer.labels[j]: [] for j in label_indices}
    active = [j for j in label_indices if probs[j] >= config.label_floor]
    text = normalized.text
    units = word_units(text, config.max_units)
    if not active or not units:
        return result
    occluded_logits = _occluded_logits(scorer, text, units, context)
    calibrated_drop = probs[np.newaxis, :] - scorer.calibrator(occluded_logits)
    base_raw = sigmoid(scorer.max_logits([text], [context]))  # (1, labels)
    raw_drop = base_raw - sigmoid(occluded_logits)
    drops = np.maximum(calibrated_drop, raw_drop)  # (units, labels)
    for j in active:
        merged: list[tuple[int, int, float]] = []
        previous = -2
        for k, (begin, end) in enumerate(units):
            drop = float(drops[k, j])
            if drop < config.min_drop:
                continue
            if merged and previous == k - 1:
                start, _, best = merged[-1]
                merged[-1] = (start, end, max(best, drop))
            else:
                merged.append((begin, end, drop))
            previous = k
        spans: list[Span] = []
        for begin, end, drop in merged:
            ob, oe = normalized.original_span(begin, end)
            spans.append(Span(begin=ob, end=oe, score=round(drop, 6), text=normalized.original[ob:oe]))
        result[scorer.labels[j]] = spans
    return result

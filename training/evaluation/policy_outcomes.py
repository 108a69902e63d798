"""What the moderation policy does with the model's scores: allow / review / reject on labelled data.

``policy_outcomes`` runs ``Policy.decide`` on every row (global thresholds and word lists, no per-site
override, no parent context or author-history holds) and measures the outcome against reference labels:

- *held* = review or reject (the comment is not published straight away);
- ``held_recall``: share of annotated positives held; ``reject_recall``: share rejected outright;
- ``false_hold_rate`` / ``false_reject_rate``: share of annotated negatives held / rejected;
- ``held_precision``: positives among the held annotated rows.

A rate whose denominator is empty is ``None``, never 0. Soft targets count as positive at or above
``binarise_at``, as in the ranking metrics.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from civility.service.policy import Decision, Policy
from civility.training.evaluation.config import DEFAULT_REFERENCE_LABELS

ACTIONS = ("allow", "review", "reject")
SCORE_CODES = frozenset({"score_reject", "score_review"})
TERM_CODES = frozenset({"banned_term", "suspect_term"})
REASON_CODES = ("score_reject", "score_review", "banned_term", "suspect_term")


def _rate(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def _label_outcomes(y_soft: np.ndarray, actions: np.ndarray, binarise_at: float) -> dict[str, Any]:
    """Held/rejected rows against one label's targets (NaN = not annotated, left out)."""
    annotated = np.isfinite(y_soft)
    positive = np.zeros_like(annotated)
    positive[annotated] = y_soft[annotated] >= binarise_at
    negative = annotated & ~positive
    held = annotated & (actions != "allow")
    rejected = annotated & (actions == "reject")
    counts = {
        "rows": int(annotated.sum()),
        "positives": int(positive.sum()),
        "held": int(held.sum()),
        "held_positives": int((held & positive).sum()),
        "rejected_positives": int((rejected & positive).sum()),
        "negatives_held": int((held & negative).sum()),
        "negatives_rejected": int((rejected & negative).sum()),
    }
    negatives = int(negative.sum())
    return {
        **counts,
        "held_recall": _rate(counts["held_positives"], counts["positives"]),
        "reject_recall": _rate(counts["rejected_positives"], counts["positives"]),
        "false_hold_rate": _rate(counts["negatives_held"], negatives),
        "false_reject_rate": _rate(counts["negatives_rejected"], negatives),
        "held_precision": _rate(counts["held_positives"], counts["held"]),
    }


def _group_outcomes(
    actions: np.ndarray,
    targets: np.ndarray,
    target_labels: Sequence[str],
    reference_labels: Sequence[str],
    binarise_at: float,
    *,
    keep_unannotated: bool,
) -> dict[str, Any]:
    rows = len(actions)
    counts = {action: int((actions == action).sum()) for action in ACTIONS}
    out: dict[str, Any] = {"rows": rows, "counts": counts}
    out.update({action: _rate(n, rows) for action, n in counts.items()})
    out["held"] = _rate(counts["review"] + counts["reject"], rows)
    labels: dict[str, Any] = {}
    for label in reference_labels:
        column = (
            targets[:, list(target_labels).index(label)] if label in target_labels else np.full(rows, np.nan)
        )
        metrics = _label_outcomes(column, actions, binarise_at)
        if metrics["rows"] or keep_unannotated:
            labels[label] = metrics
    out["labels"] = labels
    return out


def _driver(decision: Decision) -> str | None:
    """What set the final action: ``score``, ``word_list``, ``both``; None for an allow."""
    if decision.action == "allow":
        return None
    codes = {reason.code for reason in decision.reasons if reason.action == decision.action}
    if codes <= SCORE_CODES:
        return "score"
    if codes <= TERM_CODES:
        return "word_list"
    return "both"


def policy_outcomes(
    texts: Sequence[str],
    probs: np.ndarray,
    labels: Sequence[str],
    targets: np.ndarray,
    target_labels: Sequence[str],
    corpora: Sequence[str] | None,
    policy: Policy,
    *,
    reference_labels: Sequence[str] = DEFAULT_REFERENCE_LABELS,
    binarise_at: float = 0.5,
    min_corpus_rows: int = 1,
) -> dict[str, Any]:
    """Decide every row with ``policy`` and summarise the actions, overall and per corpus.

    ``probs`` is ``(n, len(labels))`` in the model's label order (NaN entries are left out of the
    scores the policy sees); ``targets`` is ``(n, len(target_labels))``, NaN = not annotated.
    Corpora with fewer than ``min_corpus_rows`` rows count in ``overall`` but are not listed
    (``corpora_not_listed`` gives their sizes).
    """
    n = len(texts)
    if probs.ndim != 2 or probs.shape != (n, len(labels)):
        raise ValueError(f"probabilities {probs.shape} do not match {n} texts x {len(labels)} labels")
    if targets.ndim != 2 or targets.shape != (n, len(target_labels)):
        raise ValueError(f"targets {targets.shape} do not match {n} texts x {len(target_labels)} labels")
    if corpora is not None and len(corpora) != n:
        raise ValueError(f"{len(corpora)} corpus names for {n} texts")

    actions = np.empty(n, dtype=object)
    drivers: Counter[str] = Counter()
    reason_codes: Counter[str] = Counter()
    score_labels: Counter[str] = Counter()
    terms: Counter[str] = Counter()
    for i, text in enumerate(texts):
        scores = {label: float(p) for label, p in zip(labels, probs[i], strict=True) if np.isfinite(p)}
        decision = policy.decide(scores, text)
        actions[i] = decision.action
        driver = _driver(decision)
        if driver is not None:
            drivers[driver] += 1
        reason_codes.update({reason.code for reason in decision.reasons})
        score_labels.update(
            {
                reason.label
                for reason in decision.reasons
                if reason.code in SCORE_CODES
                and reason.action == decision.action
                and reason.label is not None
            }
        )
        terms.update({reason.term for reason in decision.reasons if reason.term is not None})

    settings = (target_labels, reference_labels, binarise_at)
    per_corpus: dict[str, Any] = {}
    not_listed: dict[str, int] = {}
    if corpora is not None:
        names = np.asarray(corpora, dtype=object).astype(str)
        for name in sorted(set(names.tolist())):
            rows = names == name
            if rows.sum() < min_corpus_rows:
                not_listed[name] = int(rows.sum())
                continue
            per_corpus[name] = _group_outcomes(
                actions[rows], targets[rows], *settings, keep_unannotated=False
            )

    thresholded = set(policy.thresholds())
    return {
        "reference_labels": list(reference_labels),
        "binarise_at": binarise_at,
        "min_corpus_rows": min_corpus_rows,
        "policy_labels_not_scored": sorted(thresholded - set(labels)),
        "overall": _group_outcomes(actions, targets, *settings, keep_unannotated=True),
        "per_corpus": per_corpus,
        "corpora_not_listed": not_listed,
        "decisions": {
            "held_by": {key: drivers[key] for key in ("score", "word_list", "both")},
            "reason_codes": {code: reason_codes[code] for code in REASON_CODES},
            "score_labels": dict(score_labels.most_common()),
            "terms": dict(terms.most_common()),
        },
    }

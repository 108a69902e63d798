"""Combining mapped corpora: cross-corpus deduplication, group-wise splitting, per-corpus caps."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from civility.model.labels import label_ids

SPLITS = ("train", "validation", "test")
_HINT_RANK = {"auto": 0, "train": 1, "validation": 2, "test": 3}
_RANK_HINT = {rank: hint for hint, rank in _HINT_RANK.items()}

_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_MENTION = re.compile(r"@\w+")
_SPACE = re.compile(r"\s+")


def dedup_key(text: str) -> str:
    """Normalised text for finding duplicates: lower-case, no URLs or @mentions, collapsed whitespace."""
    lowered = text.lower()
    stripped = _SPACE.sub(" ", _MENTION.sub(" ", _URL.sub(" ", lowered))).strip()
    return stripped or _SPACE.sub(" ", lowered).strip()


def deduplicate(frame: pd.DataFrame, labels: Sequence[str]) -> pd.DataFrame:
    """Merge rows with the same :func:`dedup_key` (within and across corpora).

    The first row (in corpus priority order) keeps its id, text, corpus and group; each label is the
    mean of the copies that annotate it (None only if no copy does); the split hint is the strictest
    of the copies (an official test row stays in test). Adds ``copies`` and ``sources``.
    """
    work = frame.copy()
    work["_key"] = work["text"].map(dedup_key)
    work["_hint_rank"] = work["split_hint"].map(_HINT_RANK).fillna(0).astype(int)
    grouped = work.groupby("_key", sort=False)
    merged = grouped[["id", "text", "corpus", "group"]].first()
    merged[list(labels)] = grouped[list(labels)].mean()
    merged["split_hint"] = grouped["_hint_rank"].max().map(_RANK_HINT)
    merged["copies"] = grouped.size()
    merged["sources"] = grouped["corpus"].agg(lambda s: ",".join(sorted(set(s))))
    return merged.reset_index().rename(columns={"_key": "key"})


def _unit_interval(seed: int, value: str) -> float:
    digest = hashlib.blake2b(f"{seed}:{value}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def assign_splits(
    frame: pd.DataFrame,
    fractions: Mapping[str, tuple[float, float]],
    seed: int,
) -> pd.Series:
    """Split rows by ``group``: every row of a group lands in the same split.

    ``fractions[corpus] = (validation, test)`` applies to groups without an official split; a group
    with any official-test row goes to test (likewise validation, then train).
    """
    forced = frame["split_hint"].map(_HINT_RANK).groupby(frame["group"]).transform("max")
    corpus_of_group = frame.groupby("group")["corpus"].transform("first")
    draws = frame["group"].map(lambda g: _unit_interval(seed, g))
    validation = corpus_of_group.map(lambda c: fractions[c][0])
    test = corpus_of_group.map(lambda c: fractions[c][1])
    split = np.where(draws < test, "test", np.where(draws < test + validation, "validation", "train"))
    result = pd.Series(split, index=frame.index, dtype=object)
    for rank in (1, 2, 3):
        result = result.where(forced != rank, _RANK_HINT[rank])
    return result


def priority_rank(
    frame: pd.DataFrame,
    priority_labels: Sequence[str],
    threshold: float,
    mentions: pd.Series | None = None,
    mention_negative_labels: Sequence[str] = (),
    contrast_labels: Sequence[str] = (),
) -> np.ndarray:
    """Keep-order for capping, lowest first.

    0 = positive on a rare (priority) label;
    1 = a *contrast negative*: annotated negative on a ``contrast_labels`` label while positive on some
        other label (abusive, but not this kind: a slur at a group is not harassment of a person);
    2 = annotated negative on a ``mention_negative_labels`` label while mentioning an identity term
        ("mention != attack");
    3 = the rest.

    Without tier 1, keeping positives first skews a capped corpus: HatEval's harassment rows are its
    hateful tweets, and keeping the person-targeted ones first left 1,455 positives against 347
    group-targeted negatives in train (80%) where validation has 36%, so "hateful" became "harassment".
    """
    rank = np.full(len(frame), 3, dtype=np.int8)
    if mentions is not None:
        negative_cols = [label for label in mention_negative_labels if label in frame.columns]
        if negative_cols:
            negative = (frame[negative_cols] < threshold).any(axis=1).to_numpy()
            rank[negative & mentions.reindex(frame.index).fillna(False).to_numpy(dtype=bool)] = 2
    contrast_cols = [label for label in contrast_labels if label in frame.columns]
    if contrast_cols:
        known = set(label_ids())
        label_cols = [label for label in frame.columns if label in known]
        for label in contrast_cols:
            others = [other for other in label_cols if other != label]
            if not others:
                continue
            negative = (frame[label] < threshold).to_numpy()
            positive_elsewhere = (frame[others] >= threshold).any(axis=1).to_numpy()
            rank[negative & positive_elsewhere] = 1
    present = [label for label in priority_labels if label in frame.columns]
    if present:
        rank[(frame[present] >= threshold).any(axis=1).to_numpy()] = 0
    return rank


def imply_negatives(
    frame: pd.DataFrame, source: str, at_most: float, targets: Sequence[str]
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Fill *unannotated* ``targets`` with 0 on rows whose ``source`` label is at most ``at_most``.

    The target labels are kinds of the source label (an identity attack or a threat is toxic), so a row
    that raters judged clearly not ``source`` is not any of them either. Annotated values are never
    changed. Returns the new frame and, per target label, how many cells were filled.
    """
    out = frame.copy()
    if source not in out.columns:
        return out, {target: 0 for target in targets}
    clear = out[source].notna() & (out[source] <= at_most)
    filled: dict[str, int] = {}
    for target in targets:
        if target not in out.columns:
            filled[target] = 0
            continue
        cells = clear & out[target].isna()
        out.loc[cells, target] = 0.0
        filled[target] = int(cells.sum())
    return out, filled


def cap_rows(frame: pd.DataFrame, cap: int | None, seed: int, rank: np.ndarray | None = None) -> pd.DataFrame:
    """Keep at most ``cap`` rows: lower ``rank`` first, a seeded random sample within a rank."""
    if cap is None or len(frame) <= cap:
        return frame
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(frame))
    ranks = np.zeros(len(frame), dtype=np.int8) if rank is None else np.asarray(rank)
    ranked = order[np.argsort(ranks[order], kind="stable")]
    return frame.iloc[np.sort(ranked[:cap])]

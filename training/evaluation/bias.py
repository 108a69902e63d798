"""Identity-bias metrics (Borkan et al. 2019; Jigsaw Unintended Bias in Toxicity Classification).

For each identity subgroup, over one label:
- subgroup AUC: AUC on the rows that mention the identity;
- BPSN (background positive, subgroup negative): AUC on non-toxic subgroup rows plus toxic
  background rows; low when non-toxic mentions of the identity score high;
- BNSP (background negative, subgroup positive): AUC on toxic subgroup rows plus non-toxic
  background rows; low when toxic mentions of the identity score low.
Each family is summarised by the generalised power mean ``M_p = (mean(m^p))^(1/p)`` (p = -5
weighs the worst subgroups most), and the Jigsaw final score is
``w * overall AUC + (1 - w) * mean(M_p(subgroup), M_p(BPSN), M_p(BNSP))`` with ``w = 0.25``.

The functions here are pure over arrays; ``load_template_set`` and ``load_wiki_set`` read the
``conversationai_bias_eval`` sentence templates and the identity-fuzzed Wikipedia test set.
"""

from __future__ import annotations

import csv
import random
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from civility.training.evaluation.config import BiasConfig, TemplateSetConfig, WikiSetConfig, resolve_under

Metrics = dict[str, Any]
METRIC_NAMES = ("subgroup_auc", "bpsn_auc", "bnsp_auc")


def _auc(y: np.ndarray, score: np.ndarray) -> float | None:
    if len(y) == 0 or y.min() == y.max():
        return None
    return float(roc_auc_score(y, score))


def subgroup_auc(y: np.ndarray, score: np.ndarray, in_subgroup: np.ndarray) -> float | None:
    """AUC within the subgroup; None unless it has both classes."""
    return _auc(y[in_subgroup], score[in_subgroup])


def bpsn_auc(y: np.ndarray, score: np.ndarray, in_subgroup: np.ndarray) -> float | None:
    """AUC over subgroup negatives and background positives."""
    rows = (in_subgroup & (y == 0)) | (~in_subgroup & (y == 1))
    return _auc(y[rows], score[rows])


def bnsp_auc(y: np.ndarray, score: np.ndarray, in_subgroup: np.ndarray) -> float | None:
    """AUC over subgroup positives and background negatives."""
    rows = (in_subgroup & (y == 1)) | (~in_subgroup & (y == 0))
    return _auc(y[rows], score[rows])


def power_mean(values: Iterable[float], p: float) -> float | None:
    """Generalised mean ``(mean(v^p))^(1/p)``; None for no values. Values must be positive when p < 0."""
    arr = np.asarray(list(values), dtype=np.float64)
    if arr.size == 0:
        return None
    if p < 0 and (arr <= 0).any():
        return 0.0
    return float(np.mean(arr**p) ** (1.0 / p))


def bias_metrics(
    y_true: np.ndarray,
    y_score: np.ndarray,
    subgroups: Mapping[str, np.ndarray],
    *,
    power_mean_p: float = -5.0,
    overall_weight: float = 0.25,
    min_subgroup_rows: int = 1,
    binarise_at: float = 0.5,
) -> Metrics:
    """Per-subgroup AUCs, their power means, the overall AUC and the Jigsaw final bias score.

    ``subgroups`` maps an identity to a boolean mask over the rows. A subgroup with fewer than
    ``min_subgroup_rows`` rows is reported but not used; a metric that is undefined for a
    subgroup (one class only) is left out of that metric's power mean. ``final_score`` is None
    unless all three power means and the overall AUC are defined.
    """
    y_soft = np.asarray(y_true, dtype=np.float64)
    score = np.asarray(y_score, dtype=np.float64)
    if y_soft.shape != score.shape or y_soft.ndim != 1:
        raise ValueError(f"targets {y_soft.shape} and scores {score.shape} must be 1-D and the same length")
    keep = np.isfinite(y_soft)
    y = (y_soft[keep] >= binarise_at).astype(np.int64)
    score = score[keep]
    per_subgroup: dict[str, Metrics] = {}
    used: dict[str, list[float]] = {name: [] for name in METRIC_NAMES}
    for identity, mask in sorted(subgroups.items()):
        in_subgroup = np.asarray(mask, dtype=bool)
        if in_subgroup.shape != keep.shape:
            raise ValueError(f"subgroup {identity!r}: mask has {in_subgroup.shape}, rows {keep.shape}")
        in_subgroup = in_subgroup[keep]
        rows = int(in_subgroup.sum())
        entry: Metrics = {
            "rows": rows,
            "positives": int(y[in_subgroup].sum()),
            "subgroup_auc": subgroup_auc(y, score, in_subgroup),
            "bpsn_auc": bpsn_auc(y, score, in_subgroup),
            "bnsp_auc": bnsp_auc(y, score, in_subgroup),
            "used": rows >= min_subgroup_rows,
        }
        per_subgroup[identity] = entry
        if entry["used"]:
            for name in METRIC_NAMES:
                if entry[name] is not None:
                    used[name].append(entry[name])
    means = {f"power_mean_{name}": power_mean(used[name], power_mean_p) for name in METRIC_NAMES}
    overall = _auc(y, score)
    parts = list(means.values())
    final = None
    if overall is not None and all(v is not None for v in parts):
        final = overall_weight * overall + (1 - overall_weight) * float(
            np.mean([v for v in parts if v is not None])
        )
    return {
        "rows": len(y),
        "positives": int(y.sum()),
        "overall_auc": overall,
        **means,
        "final_score": final,
        "subgroups_used": {name: len(values) for name, values in used.items()},
        "power_mean_p": power_mean_p,
        "overall_weight": overall_weight,
        "subgroups": per_subgroup,
    }


class IdentityMatcher:
    """Finds identity terms as whole words (case-insensitive), preferring the longest term at a position."""

    def __init__(self, terms: Sequence[str]) -> None:
        ordered = sorted({t.lower() for t in terms}, key=lambda t: (-len(t), t))
        alternation = "|".join(re.escape(t).replace(r"\ ", r"\s+") for t in ordered)
        self._pattern = re.compile(rf"(?<![\w-])(?:{alternation})(?![\w-])", re.IGNORECASE)

    def find_all(self, text: str) -> list[str]:
        """Every distinct term in ``text``, in order of first appearance."""
        seen: dict[str, None] = {}
        for match in self._pattern.finditer(text):
            seen.setdefault(" ".join(match.group(0).lower().split()), None)
        return list(seen)

    def last(self, text: str) -> str | None:
        """The last term in ``text`` (the identity slot of a template sentence)."""
        found = [" ".join(m.group(0).lower().split()) for m in self._pattern.finditer(text)]
        return found[-1] if found else None


@dataclass
class BiasSet:
    """Texts with one binary label and identity-subgroup masks."""

    name: str
    texts: list[str]
    y_true: np.ndarray
    subgroups: dict[str, np.ndarray] = field(default_factory=dict)
    note: str = ""


class BiasDataError(ValueError):
    """A bias evaluation file is missing or malformed."""


def _read_csv(path: Path, required: Sequence[str]) -> list[dict[str, str]]:
    if not path.is_file():
        raise BiasDataError(f"bias evaluation file not found: {path}")
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in required if c not in (reader.fieldnames or [])]
        if missing:
            raise BiasDataError(f"{path}: missing columns {missing} (has {reader.fieldnames})")
        return list(reader)


def _masks(assignments: Sequence[Sequence[str]], terms: Sequence[str]) -> dict[str, np.ndarray]:
    masks: dict[str, np.ndarray] = {}
    for term in terms:
        mask = np.array([term in found for found in assignments], dtype=bool)
        if mask.any():
            masks[term] = mask
    return masks


def load_template_set(config: TemplateSetConfig, terms: Sequence[str], datasets_root: Path) -> BiasSet:
    """Sentence templates, at most ``max_rows_per_cell`` per (template, identity, class), seeded sample."""
    path = resolve_under(datasets_root, config.path)
    rows = _read_csv(path, ["template", "toxicity", "phrase"])
    matcher = IdentityMatcher(terms)
    cells: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    unmatched = 0
    for row in rows:
        if row["template"] in config.exclude_templates:
            continue
        if row["toxicity"] not in ("toxic", "nontoxic"):
            raise BiasDataError(f"{path}: toxicity must be toxic|nontoxic, got {row['toxicity']!r}")
        identity = matcher.last(row["phrase"])
        if identity is None:
            unmatched += 1
            continue
        cells[(row["template"], identity, row["toxicity"])].append(row["phrase"])
    rng = random.Random(config.seed)
    texts: list[str] = []
    labels: list[float] = []
    identities: list[list[str]] = []
    for (_, identity, toxicity), phrases in sorted(cells.items()):
        chosen = (
            phrases
            if len(phrases) <= config.max_rows_per_cell
            else rng.sample(phrases, config.max_rows_per_cell)
        )
        texts.extend(chosen)
        labels.extend([1.0 if toxicity == "toxic" else 0.0] * len(chosen))
        identities.extend([[identity]] * len(chosen))
    cap = config.max_rows_per_cell
    note = f"{len(texts)} of {len(rows)} template rows (at most {cap} per template, identity and class"
    note += f"; excluded templates {config.exclude_templates}" if config.exclude_templates else ""
    note += f"; {unmatched} rows with no identity term skipped)" if unmatched else ")"
    return BiasSet("templates", texts, np.array(labels), _masks(identities, terms), note)


def load_wiki_set(config: WikiSetConfig, terms: Sequence[str], datasets_root: Path) -> BiasSet:
    """Wikipedia talk comments with identity terms substituted at random; subgroup = mentions the term."""
    path = resolve_under(datasets_root, config.path)
    rows = _read_csv(path, ["comment", "toxic"])
    matcher = IdentityMatcher(terms)
    texts = [row["comment"].strip() for row in rows]
    values = {"true": 1.0, "false": 0.0, "1": 1.0, "0": 0.0}
    try:
        labels = [values[row["toxic"].strip().lower()] for row in rows]
    except KeyError as exc:
        raise BiasDataError(f"{path}: toxic must be True|False, got {exc.args[0]!r}") from None
    if config.max_rows is not None and config.max_rows < len(texts):
        keep = sorted(random.Random(config.seed).sample(range(len(texts)), config.max_rows))
        texts, labels = [texts[i] for i in keep], [labels[i] for i in keep]
    identities = [matcher.find_all(text) for text in texts]
    note = f"{len(texts)} of {len(rows)} comments; {sum(1 for i in identities if i)} mention an identity term"
    return BiasSet("wiki_fuzzed", texts, np.array(labels), _masks(identities, terms), note)


def load_bias_sets(config: BiasConfig, datasets_root: Path) -> list[BiasSet]:
    """Both bias evaluation sets named in the configuration."""
    return [
        load_template_set(config.templates, config.identity_terms, datasets_root),
        load_wiki_set(config.wiki, config.identity_terms, datasets_root),
    ]

"""The data card (``DATA_CARD.md``) and machine-readable statistics (``stats.json``) of a built corpus."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from civility.training.corpora.mixing import SPLITS
from civility.training.corpora.spec import CorpusSpec


def identity_pattern(terms: Sequence[str]) -> re.Pattern[str]:
    words = "|".join(re.escape(term.lower()) for term in sorted(terms, key=len, reverse=True))
    return re.compile(rf"\b(?:{words})(?:s|es)?\b", re.IGNORECASE)


def identity_cooccurrence(
    frame: pd.DataFrame, labels: Sequence[str], pattern: re.Pattern[str], threshold: float
) -> dict[str, dict[str, float | int]]:
    """Per label: share of positives and of negatives (among annotated rows) that mention an identity term."""
    mentions = frame["text"].map(lambda t: bool(pattern.search(t)))
    out: dict[str, dict[str, float | int]] = {}
    for label in labels:
        annotated = frame[label].notna()
        positive = annotated & (frame[label] >= threshold)
        negative = annotated & (frame[label] < threshold)
        out[label] = {
            "positives": int(positive.sum()),
            "negatives": int(negative.sum()),
            "positives_mentioning": round(float(mentions[positive].mean()), 4) if positive.any() else 0.0,
            "negatives_mentioning": round(float(mentions[negative].mean()), 4) if negative.any() else 0.0,
        }
    return out


def corpus_stats(
    splits: Mapping[str, pd.DataFrame],
    specs: Mapping[str, CorpusSpec],
    labels: Sequence[str],
    threshold: float,
) -> dict[str, Any]:
    per_corpus: dict[str, Any] = {}
    for name, spec in specs.items():
        rows = {split: int((splits[split]["corpus"] == name).sum()) for split in SPLITS}
        positives: dict[str, dict[str, int]] = {}
        annotated: dict[str, dict[str, int]] = {}
        for split in SPLITS:
            part = splits[split][splits[split]["corpus"] == name]
            positives[split] = {
                lab: int((part[lab] >= threshold).sum()) for lab in labels if part[lab].notna().any()
            }
            annotated[split] = {
                lab: int(part[lab].notna().sum()) for lab in labels if part[lab].notna().any()
            }
        coverage = sorted({lab for split in SPLITS for lab in annotated[split]}, key=list(labels).index)
        per_corpus[name] = {
            "title": spec.title,
            "domain": spec.domain,
            "license": spec.license,
            "note": spec.note,
            "caveats": spec.caveats,
            "rows": rows,
            "total_rows": sum(rows.values()),
            "labels": coverage,
            "annotated": annotated,
            "positives": positives,
        }
    return per_corpus


def _positives_table(corpora: Mapping[str, Any], labels: Sequence[str], split: str) -> list[str]:
    lines = [
        "",
        f"## {split.capitalize()} positives per label (positives / annotated rows; — = not annotated)",
        "",
        "| corpus | " + " | ".join(labels) + " |",
        "|---|" + "---|" * len(labels),
    ]
    for name, info in corpora.items():
        cells = []
        for label in labels:
            total = info["annotated"][split].get(label)
            cells.append("—" if total is None else f"{info['positives'][split].get(label, 0):,} / {total:,}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def render_card(stats: Mapping[str, Any], labels: Sequence[str]) -> str:
    """Markdown data card from ``stats`` (the same dict that is written to ``stats.json``)."""
    corpora: Mapping[str, Any] = stats["corpora"]
    lines = [
        "# Civility training corpus — data card",
        "",
        f"Built by `civility build-data` from `{stats['datasets_root']}` with recipe `{stats['recipe']}` "
        f"(seed {stats['seed']}). Splits: "
        + ", ".join(f"{split} {stats['split_rows'][split]:,}" for split in SPLITS)
        + " rows.",
        "",
        "Label columns hold values in [0, 1] (soft where a corpus gives rater fractions or confidences); "
        "an empty cell means the corpus does not annotate that label (masked out of the loss), never 0. "
        f"Positives below count values >= {stats['positive_threshold']}.",
        "",
        "Columns: `id` (unique), `text`, `corpus`, `group` (source document / thread / row used for "
        "splitting; no group is in two splits), `weight` (per-row loss/sampling weight from the recipe), "
        "then one nullable float32 column per label: " + ", ".join(f"`{label}`" for label in labels) + ".",
        "",
        "Rebuild with `civility build-data` (options: `--datasets DIR`, `--output DIR`, `--config FILE`). "
        "Texts are deduplicated across corpora before splitting (lower-cased, URLs and @mentions removed, "
        "whitespace collapsed); official test splits stay in `test`; per-corpus train caps keep rare-label "
        "positives first, then contrast negatives (abusive rows that are not the rare kind, so a capped "
        "corpus keeps its label rates), then identity-mentioning negatives.",
        "",
        "## Rows per corpus and split",
        "",
        "| corpus | domain | weight | train | validation | test | labels annotated |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, info in corpora.items():
        rows = info["rows"]
        lines.append(
            f"| {name} | {info['domain']} | {stats['weights'].get(name, 1.0):g} | {rows['train']:,} | "
            f"{rows['validation']:,} | {rows['test']:,} | {', '.join(info['labels'])} |"
        )
    for split in SPLITS:
        lines += _positives_table(corpora, labels, split)
    lines += [
        "",
        "## Identity-term co-occurrence (train split)",
        "",
        "Share of positive and of negative rows per label whose text mentions an identity term "
        f"({', '.join(stats['identity_terms'])}). A large gap means the label could be learnt from the "
        "mention alone.",
        "",
        "| label | positives | negatives | positives mentioning | negatives mentioning |",
        "|---|---|---|---|---|",
    ]
    for label, row in stats["identity_cooccurrence"].items():
        lines.append(
            f"| {label} | {row['positives']:,} | {row['negatives']:,} | "
            f"{row['positives_mentioning']:.1%} | {row['negatives_mentioning']:.1%} |"
        )
    focus = [label for label in ("toxicity", "insult", "identity_attack", "threat") if label in labels]
    lines += [
        "",
        "Per corpus (train): share of positives / of negatives mentioning an identity term "
        "(— = not annotated or no positives).",
        "",
        "| corpus | " + " | ".join(focus) + " |",
        "|---|" + "---|" * len(focus),
    ]
    for name, info in corpora.items():
        cells = []
        for label in focus:
            row = info.get("identity_cooccurrence", {}).get(label)
            if not row or not row["positives"]:
                cells.append("—")
            else:
                cells.append(f"{row['positives_mentioning']:.0%} / {row['negatives_mentioning']:.0%}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "## Licences and caveats", ""]
    for name, info in corpora.items():
        lines.append(f"### {name} — {info['title']}")
        lines.append("")
        lines.append(f"- Licence: {info['license']}")
        if info["note"]:
            lines.append(f"- {info['note']}")
        lines += [f"- {caveat}" for caveat in info["caveats"]]
        lines.append("")
    lines += ["## Excluded", ""]
    lines += [f"- {item}" for item in stats["excluded"]]
    lines.append("")
    return "\n".join(lines)

"""Side-by-side table of ``civility evaluate`` reports (``report.json``), e.g. two candidate bundles on
the same rows.

    python benchmarks/compare_reports.py OLD/report.json NEW/report.json [--corpus-label ucc:toxicity ...]

Prints Markdown: pooled ROC-AUC per label, ROC-AUC per corpus and label (where both reports have at
least ``--min-positives`` positives), the identity-bias final scores, the functional suites and what the
policy holds (reports made with ``--policy``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def _get(data: dict[str, Any] | None, *keys: str) -> Any:
    """``data[k1][k2]...``, or None where a key (or a section of the report) is absent."""
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def pooled(reports: list[dict[str, Any]]) -> list[str]:
    labels = reports[0]["model"]["labels"]
    lines = [_row(["label", *[r["model"]["ref"] for r in reports]]), _row(["---"] * (len(reports) + 1))]
    for label in labels:
        cells = [_fmt(_get(r, "ranking", "per_label", label, "roc_auc")) for r in reports]
        lines.append(_row([label, *cells]))
    return lines


def per_corpus(reports: list[dict[str, Any]], min_positives: int) -> list[str]:
    lines = [_row(["corpus → label (positives)", *[r["model"]["ref"] for r in reports]])]
    lines.append(_row(["---"] * (len(reports) + 1)))
    first = reports[0]["ranking"]["per_corpus"]
    for corpus in sorted(first):
        for label, metrics in first[corpus].items():
            if (metrics.get("positives") or 0) < min_positives or metrics.get("roc_auc") is None:
                continue
            cells = [_fmt(_get(r, "ranking", "per_corpus", corpus, label, "roc_auc")) for r in reports]
            lines.append(_row([f"{corpus} → {label} ({metrics['positives']})", *cells]))
    return lines


def bias_and_functional(reports: list[dict[str, Any]]) -> list[str]:
    lines = [_row(["measure", *[r["model"]["ref"] for r in reports]]), _row(["---"] * (len(reports) + 1))]
    sets = sorted({name for r in reports for name in _get(r, "bias", "sets") or {}})
    for name in sets:
        cells = [_fmt(_get(r, "bias", "sets", name, "final_score")) for r in reports]
        lines.append(_row([f"bias final score, {name}", *cells]))
    for key in ("rank_accuracy", "threshold_pass_rate"):
        cells = [_fmt(_get(r, "functional", "overall", key)) for r in reports]
        lines.append(_row([f"functional {key}", *cells]))
    suites = sorted({s for r in reports for s in _get(r, "functional", "suites") or {}})
    for suite in suites:
        for key in ("rank_accuracy", "threshold_pass_rate"):
            cells = [_fmt(_get(r, "functional", "suites", suite, key)) for r in reports]
            lines.append(_row([f"{suite} {key}", *cells]))
    return lines


def policy(reports: list[dict[str, Any]]) -> list[str]:
    lines = [_row(["measure", *[r["model"]["ref"] for r in reports]]), _row(["---"] * (len(reports) + 1))]
    held = [_fmt(_get(r, "policy", "overall", "held")) for r in reports]
    lines.append(_row(["share of comments held", *held]))
    for label in ("toxicity", "insult", "threat", "harassment"):
        for key in ("held_recall", "false_hold_rate"):
            cells = [_fmt(_get(r, "policy", "overall", "labels", label, key)) for r in reports]
            lines.append(_row([f"{label} {key}", *cells]))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", nargs="+", type=Path)
    parser.add_argument("--min-positives", type=int, default=10)
    args = parser.parse_args()
    reports = [json.loads(path.read_text(encoding="utf-8")) for path in args.reports]
    for title, lines in (
        ("Pooled ROC-AUC", pooled(reports)),
        ("ROC-AUC per corpus", per_corpus(reports, args.min_positives)),
        ("Identity bias and functional suites", bias_and_functional(reports)),
        ("Policy (configs/policy.yaml or --policy-file)", policy(reports)),
    ):
        print(f"\n### {title}\n")
        print("\n".join(lines))


if __name__ == "__main__":
    main()

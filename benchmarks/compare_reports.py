"""Side-by-side table of ``civility evaluate`` reports (``report.json``), e.g. two candidate bundles on
the same rows.

    python benchmarks/compare_reports.py OLD/report.json NEW/report.json [--min-positives N] [--max-drop D]

Prints Markdown: pooled ROC-AUC per label, ROC-AUC per corpus and label (where both reports have at
least ``--min-positives`` positives), the identity-bias final scores, the functional suites and what the
policy holds (reports made with ``--policy``).

With ``--max-drop D`` it is also a gate before switching the default model: every later report is
checked against the first on the same measures (pooled and per-corpus ROC-AUC, bias final scores,
functional rank accuracy overall and per suite), the measures that fell by more than D are listed, and
the exit status is 1 if there are any. Retraining the same recipe with another seed moved threat AUC by
0.03 and the threats suite by 0.09 (docs/training.md, "Fifth session"), so compare before you switch.
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


def gated_measures(report: dict[str, Any], min_positives: int) -> dict[str, float]:
    """The measures ``--max-drop`` checks, higher is better: name -> value (absent ones left out)."""
    values: dict[str, Any] = {}
    for label, metrics in (_get(report, "ranking", "per_label") or {}).items():
        values[f"pooled ROC-AUC {label}"] = _get(metrics, "roc_auc")
    for corpus, labels in (_get(report, "ranking", "per_corpus") or {}).items():
        for label, metrics in labels.items():
            if (_get(metrics, "positives") or 0) >= min_positives:
                values[f"ROC-AUC {corpus} → {label}"] = _get(metrics, "roc_auc")
    for name in _get(report, "bias", "sets") or {}:
        values[f"bias final score, {name}"] = _get(report, "bias", "sets", name, "final_score")
    values["functional rank_accuracy"] = _get(report, "functional", "overall", "rank_accuracy")
    for suite in _get(report, "functional", "suites") or {}:
        values[f"functional {suite} rank_accuracy"] = _get(
            report, "functional", "suites", suite, "rank_accuracy"
        )
    return {name: float(value) for name, value in values.items() if value is not None}


def regressions(
    baseline: dict[str, Any], candidate: dict[str, Any], max_drop: float, min_positives: int
) -> list[str]:
    """Measures in both reports on which ``candidate`` is more than ``max_drop`` below ``baseline``."""
    old, new = gated_measures(baseline, min_positives), gated_measures(candidate, min_positives)
    return [
        f"{name}: {old[name]:.3f} → {new[name]:.3f} ({new[name] - old[name]:+.3f})"
        for name in sorted(old.keys() & new.keys())
        if new[name] < old[name] - max_drop
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", nargs="+", type=Path)
    parser.add_argument("--min-positives", type=int, default=10)
    parser.add_argument(
        "--max-drop",
        type=float,
        default=None,
        help="exit 1 if a later report is more than this below the first on a gated measure",
    )
    args = parser.parse_args(argv)
    reports = [json.loads(path.read_text(encoding="utf-8")) for path in args.reports]
    for title, lines in (
        ("Pooled ROC-AUC", pooled(reports)),
        ("ROC-AUC per corpus", per_corpus(reports, args.min_positives)),
        ("Identity bias and functional suites", bias_and_functional(reports)),
        ("Policy (configs/policy.yaml or --policy-file)", policy(reports)),
    ):
        print(f"\n### {title}\n")
        print("\n".join(lines))
    if args.max_drop is None:
        return 0
    failed = False
    for report in reports[1:]:
        found = regressions(reports[0], report, args.max_drop, args.min_positives)
        ref, base = report["model"]["ref"], reports[0]["model"]["ref"]
        print(f"\n### Regressions of {ref} against {base} (more than {args.max_drop} lower)\n")
        print("\n".join(f"- {line}" for line in found) if found else "none")
        failed = failed or bool(found)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The evaluation report: ``report.json`` (everything) and ``report.md`` (the tables people read)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

Report = dict[str, Any]
MAX_FAILURES_SHOWN = 8


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _num(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "–" if np.isnan(value) else f"{value:.{digits}f}"
    return str(value)


def _pct(value: float | None, digits: int = 0) -> str:
    return "–" if value is None else f"{100 * value:.{digits}f}%"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines.extend("| " + " | ".join(_cell(c) for c in row) + " |" for row in rows)
    return [*lines, ""]


def _per_label(report: Report) -> list[str]:
    ranking = report["ranking"]["per_label"]
    calibration = report["calibration"]
    rows = []
    for label, m in ranking.items():
        cal = calibration.get(label, {})
        rows.append(
            [
                label,
                _num(m["rows"]),
                _num(m["positives"]),
                _num(m["roc_auc"]),
                _num(m["pr_auc"]),
                _num(m.get("threshold")),
                _num(m.get("precision")),
                _num(m.get("recall")),
                _num(m.get("f1")),
                " / ".join(_num(m.get(k)) for k in ("tp", "fp", "tn", "fn")),
                _num(cal.get("ece")),
                _num(cal.get("brier")),
            ]
        )
    header = [
        "label",
        "rows",
        "pos",
        "ROC-AUC",
        "PR-AUC",
        "thr",
        "P",
        "R",
        "F1",
        "TP / FP / TN / FN",
        "ECE",
        "Brier",
    ]
    return ["## Per label", "", *_table(header, rows)]


def _per_corpus(report: Report) -> list[str]:
    per_corpus = report["ranking"]["per_corpus"]
    if not per_corpus:
        return []
    labels = report["data"]["evaluated_labels"]
    rows = []
    for corpus, metrics in per_corpus.items():
        row = [corpus, _num(report["data"]["corpora"].get(corpus))]
        for label in labels:
            m = metrics.get(label)
            row.append("" if m is None else f"{_num(m['roc_auc'])} ({m['positives']}/{m['rows']})")
        rows.append(row)
    return [
        "## Per corpus × label",
        "",
        "ROC-AUC (positives / annotated rows); empty = the corpus does not annotate the label.",
        "",
        *_table(["corpus", "rows", *labels], rows),
        "F1 at the stored threshold:",
        "",
        *_table(
            ["corpus", *labels],
            [
                [
                    corpus,
                    *("" if (m := metrics.get(label)) is None else _num(m.get("f1")) for label in labels),
                ]
                for corpus, metrics in per_corpus.items()
            ],
        ),
    ]


def _policy_limits(config: dict[str, Any]) -> str:
    parts = [
        f"{label} {_num(t.get('review'), 2)} / {_num(t.get('reject'), 2)}"
        for label, t in config.get("thresholds", {}).items()
    ]
    return ", ".join(parts) or "none"


def _policy(report: Report) -> list[str]:
    policy = report.get("policy")
    if policy is None:
        return []
    config = policy.get("config", {})
    overall = policy["overall"]
    lines = [
        "## Policy outcomes",
        "",
        f"Policy `{policy['source']}` applied to every row: global thresholds and word lists (no per-site "
        "override, parent context or author-history hold). *Held* = review or reject.",
        "",
        f"- thresholds (review / reject): {_policy_limits(config)}",
        f"- word lists: {len(config.get('banned', []))} banned (reject), "
        f"{len(config.get('suspect', []))} suspect (review)",
    ]
    if policy["policy_labels_not_scored"]:
        lines.append(
            "- **thresholds on labels the model does not score** (never trigger): "
            + ", ".join(policy["policy_labels_not_scored"])
        )
    lines.append("")

    def action_row(name: str, group: dict[str, Any]) -> list[str]:
        return [
            name,
            _num(group["rows"]),
            *(_pct(group[key], 1) for key in ("allow", "review", "reject", "held")),
        ]

    rows = [action_row("**all**", overall)]
    rows += [action_row(corpus, group) for corpus, group in policy["per_corpus"].items()]
    lines += _table(["corpus", "rows", "allow", "review", "reject", "held"], rows)
    if policy["corpora_not_listed"]:
        small = ", ".join(f"{name} ({n})" for name, n in policy["corpora_not_listed"].items())
        lines += [
            f"Not listed (fewer than {policy['min_corpus_rows']} rows; counted in **all**): {small}.",
            "",
        ]

    lines += [
        "Against reference labels, on the rows annotated for each (positive at or above "
        f"{policy['binarise_at']}). Held recall: positives held; reject recall: positives rejected; "
        "false hold / false reject: negatives held / rejected; held precision: positives among held rows. "
        "– = undefined (no positives, negatives or held rows).",
        "",
    ]
    label_rows = [
        [
            label,
            _num(m["rows"]),
            _num(m["positives"]),
            *(
                _pct(m[key], 1)
                for key in (
                    "held_recall",
                    "reject_recall",
                    "false_hold_rate",
                    "false_reject_rate",
                    "held_precision",
                )
            ),
        ]
        for label, m in overall["labels"].items()
    ]
    lines += _table(
        [
            "label",
            "rows",
            "pos",
            "held recall",
            "reject recall",
            "false hold",
            "false reject",
            "held precision",
        ],
        label_rows,
    )

    labels = policy["reference_labels"]

    def recall_and_false_hold(m: dict[str, Any] | None) -> str:
        if m is None:
            return ""
        return f"{_pct(m['held_recall'])} / {_pct(m['false_hold_rate'], 1)} ({m['positives']}/{m['rows']})"

    corpus_rows = [
        [corpus, *(recall_and_false_hold(group["labels"].get(label)) for label in labels)]
        for corpus, group in policy["per_corpus"].items()
        if group["labels"]
    ]
    if corpus_rows:
        lines += [
            "Per corpus: held recall / false-hold rate (positives / annotated rows); empty = not annotated.",
            "",
            *_table(["corpus", *labels], corpus_rows),
        ]

    decisions = policy["decisions"]
    held_by = decisions["held_by"]
    lines += _table(
        ["held decisions set by", "count"],
        [
            ["scores only", _num(held_by["score"])],
            ["word lists only", _num(held_by["word_list"])],
            ["both", _num(held_by["both"])],
        ],
    )

    def counts(items: dict[str, int]) -> str:
        return ", ".join(f"{key} {n}" for key, n in items.items()) or "none"

    lines += [
        f"- decisions with each reason code: {counts(decisions['reason_codes'])}",
        f"- labels whose score set a held decision: {counts(decisions['score_labels'])}",
        f"- word-list terms matched: {counts(decisions['terms'])}",
        "",
    ]
    return lines


def _baselines(report: Report) -> list[str]:
    sections = report.get("baselines")
    if sections is None:
        return []
    model = report["model"]["ref"]
    lines = ["## Baselines side by side", ""]
    rows = []
    for label, m in report["ranking"]["per_label"].items():
        ece = report["calibration"].get(label, {}).get("ece")
        rows.append(
            [label, f"**{model}**", _num(m["roc_auc"]), _num(m["pr_auc"]), _num(m.get("f1")), _num(ece)]
        )
        for section in sections:
            b = section["ranking"].get(label)
            if b is None:
                continue
            name = section["name"] + (" (reference)" if label in section["reference_labels"] else "")
            b_ece = section["calibration"].get(label, {}).get("ece")
            rows.append([label, name, _num(b["roc_auc"]), _num(b["pr_auc"]), _num(b.get("f1")), _num(b_ece)])
    lines += _table(["label", "model", "ROC-AUC", "PR-AUC", "F1", "ECE"], rows)
    lines.append(
        "Baseline F1 uses each baseline's own 0.5 decision rule; the model uses its stored thresholds."
    )
    lines.append("")
    for section in sections:
        state = "ran" if section["ok"] else "**did not run**"
        version = f" ({section['version']})" if section.get("version") else ""
        lines.append(f"- `{section['name']}`{version}: {state}.")
        lines.extend(f"  - {note}" for note in section["notes"])
    return [*lines, ""]


def _calibration(report: Report) -> list[str]:
    rows = []
    for label, cal in report["calibration"].items():
        plot = report["plots"].get(label)
        rows.append(
            [
                label,
                _num(cal["rows"]),
                _num(cal["ece"]),
                _num(cal["brier"]),
                f"![{label}]({plot})" if plot else "–",
            ]
        )
    return [
        "## Calibration",
        "",
        "ECE over equal-width bins against the soft labels (rater fractions); reliability diagrams below.",
        "",
        *_table(["label", "rows", "ECE", "Brier", "reliability"], rows),
    ]


def _bias(report: Report) -> list[str]:
    bias = report.get("bias")
    if bias is None:
        return []
    lines = ["## Identity bias", "", f"Label `{bias['label']}`."]
    if "note" in bias:
        return [*lines, "", bias["note"], ""]
    lines += [
        "Subgroup AUC, BPSN (background positive, subgroup negative) and BNSP AUCs per identity term;",
        "power means with p = -5; final = 0.25 · overall AUC + 0.75 · mean of the three power means.",
        "",
    ]
    model = report["model"]["ref"]

    def summary_row(name: str, who: str, s: dict[str, Any]) -> list[str]:
        return [
            name,
            who,
            _num(s["rows"]),
            _num(s["overall_auc"]),
            _num(s["power_mean_subgroup_auc"]),
            _num(s["power_mean_bpsn_auc"]),
            _num(s["power_mean_bnsp_auc"]),
            f"**{_num(s['final_score'])}**" if who == model else _num(s["final_score"]),
        ]

    summary = []
    for name, s in bias["sets"].items():
        summary.append(summary_row(name, model, s))
        summary.extend(summary_row(name, baseline, b) for baseline, b in s.get("baselines", {}).items())
    lines += _table(
        ["set", "model", "rows", "overall AUC", "M(subgroup)", "M(BPSN)", "M(BNSP)", "final"], summary
    )
    for name, s in bias["sets"].items():
        lines += [f"### {name}", "", s["note"], ""]
        ordered = sorted(
            s["subgroups"].items(),
            key=lambda kv: (
                not kv[1]["used"],
                min((kv[1][k] or 1.0) for k in ("subgroup_auc", "bpsn_auc", "bnsp_auc")),
            ),
        )
        rows = [
            [
                identity,
                _num(m["rows"]),
                _num(m["positives"]),
                _num(m["subgroup_auc"]),
                _num(m["bpsn_auc"]),
                _num(m["bnsp_auc"]),
                "" if m["used"] else "too few rows",
            ]
            for identity, m in ordered
        ]
        lines += _table(["identity", "rows", "pos", "subgroup AUC", "BPSN", "BNSP", "note"], rows)
    return lines


def _functional(report: Report) -> list[str]:
    functional = report.get("functional")
    if functional is None:
        return []
    overall = functional["overall"]
    lines = [
        "## Functional suites",
        "",
        f"Threshold criterion: `low` items below {functional['low_below']}, `high` items at or above "
        f"{functional['high_at_least']}. Rank criterion: within a suite and label, high items should outrank "
        "low ones (rank accuracy = share of correctly ordered pairs).",
        "",
    ]
    rows = [
        [
            suite,
            _num(s["items"]),
            _pct(s.get("threshold_pass_rate")),
            _pct(s.get("rank_accuracy")),
            _num(s.get("rank_pass")),
            ", ".join(
                f"{label} {_pct(m['threshold_pass_rate'])}/{_pct(m['rank_accuracy'])}"
                for label, m in s["labels"].items()
            ),
        ]
        for suite, s in functional["suites"].items()
    ]
    rows.append(
        [
            "**all**",
            _num(overall["items"]),
            _pct(overall["threshold_pass_rate"]),
            _pct(overall["rank_accuracy"]),
            "",
            "",
        ]
    )
    lines += _table(
        ["suite", "items", "threshold pass", "rank accuracy", "all pairs ordered", "per label (thr/rank)"],
        rows,
    )
    lines += _functional_baselines(report)
    for suite, s in functional["suites"].items():
        failures = s.get("failures", [])
        if not failures:
            continue
        lines += [f"<details><summary>{suite}: {len(failures)} threshold failures</summary>", ""]
        for f in failures[:MAX_FAILURES_SHOWN]:
            lines.append(
                f"- `{f['label']}` expected {f['expect']}, scored {f['score']:.2f}: {_cell(f['text'])}"
            )
        if len(failures) > MAX_FAILURES_SHOWN:
            lines.append(f"- … {len(failures) - MAX_FAILURES_SHOWN} more in report.json")
        lines += ["", "</details>", ""]
    return lines


def _functional_baselines(report: Report) -> list[str]:
    functional = report["functional"]
    baselines = functional.get("baselines")
    if not baselines:
        return []
    names = [report["model"]["ref"], *baselines]
    results = [functional, *baselines.values()]
    rows = []
    for suite in functional["suites"]:
        row = [suite]
        for result in results:
            s = result["suites"].get(suite, {})
            covered = s.get("items", 0)
            row.append(
                f"{_pct(s.get('threshold_pass_rate'))} / {_pct(s.get('rank_accuracy'))} ({covered})"
                if covered
                else "–"
            )
        rows.append(row)
    return [
        "Side by side: threshold pass / rank accuracy (items covered); each baseline is scored",
        "only on the labels it maps to.",
        "",
        *_table(["suite", *names], rows),
    ]


def render_markdown(report: Report) -> str:
    data = report["data"]
    model = report["model"]
    lines = [
        f"# Evaluation of {model['ref']}",
        "",
        f"- data: `{data['source']}`, {data['rows']} rows",
        f"- labels evaluated: {', '.join(data['evaluated_labels'])}",
        f"- created {report['created']}, took {report.get('elapsed_seconds', '?')} s",
        f"- soft labels binarised at {report['settings']['binarise_at']} for ranking and thresholded metrics",
        "",
        *_per_label(report),
        *_per_corpus(report),
        *_policy(report),
        *_baselines(report),
        *_calibration(report),
        *_bias(report),
        *_functional(report),
    ]
    return "\n".join(lines).rstrip() + "\n"


def write_report(report: Report, out_dir: Path) -> tuple[Path, Path]:
    """Write ``report.json`` and ``report.md`` into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / "report.json"
    md_path = out_dir / "report.md"
    json_path.write_text(json.dumps(report, indent=2, default=_json_default) + "\n", encoding="utf-8")
    md_path.write_text(render_markdown(report), encoding="utf-8")
    return json_path, md_path

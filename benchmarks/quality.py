"""Quality benchmark: ``civility evaluate`` for the default bundle with baselines, bias and functional suites.

    .venv/bin/python benchmarks/quality.py [--json OUT] [--model REF] [--data DIR:SPLIT|FILE] [--limit N]

Needs a built corpus (``civility build-data``, default ``data/corpus``) and, for the baselines,
``bash benchmarks/baselines/setup.sh``. Writes the full report to ``--out`` (default
``runs/quality``) and prints a summary; ``--json`` also saves the summary.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def summarise(report: dict[str, Any]) -> dict[str, Any]:
    """The headline numbers of a ``report.json``: per-label AUC/F1/ECE for the model and baselines."""
    summary: dict[str, Any] = {
        "model": report["model"]["ref"],
        "data": report["data"]["source"],
        "rows": report["data"]["rows"],
        "elapsed_seconds": report.get("elapsed_seconds"),
        "labels": {},
    }
    for label, m in report["ranking"]["per_label"].items():
        entry = {
            "roc_auc": m["roc_auc"],
            "pr_auc": m["pr_auc"],
            "f1": m.get("f1"),
            "ece": report["calibration"][label]["ece"],
            "baselines": {},
        }
        for baseline in report.get("baselines", []):
            if label in baseline["ranking"]:
                b = baseline["ranking"][label]
                entry["baselines"][baseline["name"]] = {
                    "roc_auc": b["roc_auc"],
                    "pr_auc": b["pr_auc"],
                    "f1": b.get("f1"),
                }
        summary["labels"][label] = entry
    if "baselines" in report:
        summary["baselines_ran"] = {b["name"]: b["ok"] for b in report["baselines"]}
    if "bias" in report:
        summary["bias_final_score"] = {
            name: s["final_score"] for name, s in report["bias"].get("sets", {}).items()
        }
    if "functional" in report:
        functional = report["functional"]
        summary["functional"] = {
            "overall": {k: functional["overall"][k] for k in ("threshold_pass_rate", "rank_accuracy")},
            "suites": {
                name: {
                    "threshold_pass_rate": s.get("threshold_pass_rate"),
                    "rank_accuracy": s.get("rank_accuracy"),
                }
                for name, s in functional["suites"].items()
            },
        }
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="civility-default", help="bundle ref or directory")
    parser.add_argument("--data", default=str(ROOT / "data" / "corpus") + ":validation")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "quality")
    parser.add_argument("--json", type=Path, help="write the summary here")
    parser.add_argument("--limit", type=int, help="evaluate a random sample of this many rows")
    parser.add_argument("--no-baselines", action="store_true")
    args = parser.parse_args(argv)

    command = [
        sys.executable,
        "-m",
        "civility",
        "evaluate",
        args.model,
        "--data",
        args.data,
        "--out",
        str(args.out),
    ]
    command += ["--bias", "--functional"] + ([] if args.no_baselines else ["--baselines"])
    if args.limit:
        command += ["--limit", str(args.limit)]
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    print("$", " ".join(command), file=sys.stderr)
    result = subprocess.run(command, cwd=ROOT, env=env, check=False)
    if result.returncode != 0:
        return result.returncode
    summary = summarise(json.loads((args.out / "report.json").read_text(encoding="utf-8")))
    text = json.dumps(summary, indent=2)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n", encoding="utf-8")
    print(f"full report: {args.out / 'report.md'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

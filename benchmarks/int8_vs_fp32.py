"""int8 against fp32 on a whole evaluation set: per-label ROC-AUC of both precisions of one bundle.

    .venv/bin/python benchmarks/int8_vs_fp32.py [--model REF] [--data DIR:SPLIT|FILE] [--json OUT]

The export step already checks int8 against fp32 on 2,000 held-out rows, but rare labels have too few
positives there for the AUC difference to mean much. This scores the full set (default: the built
corpus's validation split, 10,590 rows) with both graphs and reports the per-label AUC drop.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from civility.model.labels import label_ids
from civility.model.scorer import Scorer
from civility.training.evaluation.config import load_evaluation_config
from civility.training.evaluation.eval_data import load_eval_data
from civility.training.evaluation.pipeline import predict_in_batches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="civility-default", help="bundle ref or directory")
    parser.add_argument(
        "--data", default="data/corpus:validation", help="DIR:SPLIT of a built corpus, or a file"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the table as JSON")
    args = parser.parse_args()

    config = load_evaluation_config()
    data = load_eval_data(args.data, label_ids())
    probs = {
        precision: predict_in_batches(
            scorer, data.texts, config.batch_size, desc=f"{scorer.ref} {precision}", progress=True
        )
        for precision in ("fp32", "int8")
        for scorer in [Scorer.load(args.model, precision)]
    }
    rows: dict[str, dict[str, float | int]] = {}
    for j, label in enumerate(data.labels):
        annotated = np.isfinite(data.targets[:, j])
        positive = data.targets[annotated, j] >= config.binarise_at
        if positive.all() or not positive.any():
            continue
        fp32 = float(roc_auc_score(positive, probs["fp32"][annotated, j]))
        int8 = float(roc_auc_score(positive, probs["int8"][annotated, j]))
        rows[label] = {
            "rows": int(annotated.sum()),
            "positives": int(positive.sum()),
            "fp32": fp32,
            "int8": int8,
            "drop": fp32 - int8,
        }
        print(
            f"{label:>18}  rows {annotated.sum():>6}  pos {positive.sum():>5}  fp32 {fp32:.4f}  "
            f"int8 {int8:.4f}  drop {fp32 - int8:+.4f}"
        )
    worst = max(rows.values(), key=lambda r: r["drop"])
    print(f"largest drop: {worst['drop']:+.4f}")
    if args.json is not None:
        payload = {"model": args.model, "data": args.data, "labels": rows}
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

"""Scoring speed: ONNX int8 and fp32 scorers against PyTorch eager baselines, in one run.

    .venv/bin/python benchmarks/latency.py [--model REF] [--json OUT] [--data labelled.jsonl]

Engines (all on the same texts, same tokenizer, same number of threads):

- ``onnx-int8`` / ``onnx-fp32``: ``civility.model.scorer.Scorer`` end to end (normalisation,
  tokenisation, windows, onnxruntime, calibration);
- ``minilm-eager``: the same MiniLM classifier in PyTorch eager mode. For a LoRA bundle this is
  the merged fine-tuned model; for an ONNX bundle, the packaged base encoder with an 8-label head
  (identical architecture and size; the weights do not change the speed);
- ``bert-base-eager``: a BERT-base classifier of Detoxify's size (``BertConfig()`` defaults:
  12 layers, hidden 768; random weights), PyTorch eager.

Single-comment latency is the time of one call for one comment (p50/p95 over ``--single``
comments). Batch throughput scores ``--batch-texts`` comments in length-sorted batches of
``batch_size`` (configs/scoring.yaml) padded per batch (the scorer's own batching; the eager baselines get the
same batches). Texts are generated news-site comments with a realistic length spread
(a sentence to a few paragraphs), seeded, so runs compare. With ``--data`` (JSONL with a
``text`` field and label columns or a ``labels`` object), the int8-vs-fp32 per-label ROC-AUC
difference and decision flips
at the bundle's thresholds are reported too. Timings on shared machines vary run to run;
compare the ratios within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

# Scripts in benchmarks/ (e.g. http.py) would shadow standard modules torch imports.
_HERE = str(Path(__file__).resolve().parent)
sys.path[:] = [p for p in sys.path if str(Path(p or ".").resolve()) != _HERE]

OPENERS = [
    "I have read this twice and",
    "Honestly,",
    "As someone who lives in the area,",
    "The article misses the point:",
    "Interesting piece.",
    "Another day, another scandal.",
    "My grandfather worked at that plant for thirty years and",
    "Not sure why this is news, but",
    "Thank you for reporting this.",
    "Typical.",
]
CLAIMS = [
    "the council has been promising new buses since 2019 and nothing has changed",
    "the minister clearly did not read the report before voting on it",
    "prices at the supermarket have gone up by a third while wages stayed the same",
    "these people have no idea what it costs to run a small business in this town",
    "the referee was a disgrace and the club should complain to the league",
    "you are an idiot if you believe a word of what they say",
    "the journalists who wrote this should be ashamed of themselves",
    "nobody asked the residents before they closed the library",
    "this is the best news I have heard all year",
    "the opposition would have done exactly the same thing",
    "it is fucking ridiculous that we still pay for this",
    "someone should teach that clown a lesson he will not forget",
    "my neighbours are Muslims and they are the kindest people on the street",
    "the police response was slow but the firefighters were heroes",
    "if you think this is bad, look at what happened in the next county",
]
CLOSERS = [
    "Just my two cents.",
    "Shame on all of them.",
    "We deserve better.",
    "Wake up, people!",
    "Well done to the volunteers.",
    "Vote them out next time.",
    "",
]


def generate_comments(n: int, seed: int = 0) -> list[str]:
    """News-comment-like texts: mostly one to three sentences, some several paragraphs."""
    rng = random.Random(seed)
    comments: list[str] = []
    for _ in range(n):
        sentences = max(1, min(24, round(rng.lognormvariate(0.9, 0.8))))
        parts = [rng.choice(OPENERS)]
        for _ in range(sentences):
            claim = rng.choice(CLAIMS)
            parts.append(claim[0].upper() + claim[1:] + rng.choice([".", ".", "!", "?", "..."]))
        parts.append(rng.choice(CLOSERS))
        comments.append(" ".join(p for p in parts if p))
    return comments


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def time_single(fn: Callable[[str], Any], texts: Sequence[str], warmup: int = 5) -> dict[str, float]:
    for text in texts[:warmup]:
        fn(text)
    times = []
    for text in texts:
        start = time.perf_counter()
        fn(text)
        times.append((time.perf_counter() - start) * 1000)
    return {"p50_ms": percentile(times, 50), "p95_ms": percentile(times, 95), "n": len(times)}


def time_batch(fn: Callable[[Sequence[str]], Any], texts: Sequence[str]) -> dict[str, float]:
    fn(texts[: min(16, len(texts))])  # warm-up
    start = time.perf_counter()
    fn(texts)
    elapsed = time.perf_counter() - start
    return {"texts_per_s": len(texts) / elapsed, "seconds": elapsed, "n": len(texts)}


class EagerClassifier:
    """A PyTorch eager classifier fed exactly like the scorer: same tokens, length-sorted batches."""

    def __init__(self, model: Any, scorer: Any, batch_size: int) -> None:
        import torch

        self.torch = torch
        self.model = model.eval()
        self.scorer = scorer
        self.batch_size = batch_size

    def _ids(self, texts: Sequence[str]) -> list[Any]:
        normalized = [self.scorer.prepare(t)[0].text for t in texts]
        windows, _ = self.scorer.encode(normalized, [None] * len(normalized))
        return windows

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        torch = self.torch
        windows = self._ids(texts)
        order = sorted(range(len(windows)), key=lambda i: len(windows[i].ids))
        out = np.empty((len(windows), 8), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                batch = order[start : start + self.batch_size]
                width = max(len(windows[i].ids) for i in batch)
                ids = torch.zeros((len(batch), width), dtype=torch.long)
                mask = torch.zeros((len(batch), width), dtype=torch.long)
                types = torch.zeros((len(batch), width), dtype=torch.long)
                for row, i in enumerate(batch):
                    n = len(windows[i].ids)
                    ids[row, :n] = torch.tensor(windows[i].ids)
                    mask[row, :n] = 1
                    types[row, :n] = torch.tensor(windows[i].type_ids)
                logits = self.model(input_ids=ids, attention_mask=mask, token_type_ids=types).logits
                out[batch] = torch.sigmoid(logits).numpy()[:, :8]
        return out


def minilm_eager(scorer: Any) -> tuple[Any, str]:
    """The bundle's network in PyTorch eager mode (merged LoRA), or the same architecture."""
    manifest = scorer.manifest
    if manifest.weights.format == "lora" and manifest.weights.adapter_dir:
        from civility.model.materialize import load_merged_classifier

        adapter = scorer.bundle.info.path / manifest.weights.adapter_dir
        return load_merged_classifier(adapter, manifest.labels), "merged fine-tuned LoRA model"
    from civility.model.materialize import load_base_classifier

    return load_base_classifier(manifest.labels), "packaged base encoder + 8-label head (same architecture)"


def bert_base() -> Any:
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    config = BertConfig()  # bert-base: 12 layers, hidden 768, 12 heads, vocab 30522
    config.num_labels = 8
    config.problem_type = "multi_label_classification"
    return BertForSequenceClassification(config)


def _label_value(row: dict[str, Any], label: str) -> Any:
    """A label's value from a top-level column, or from a ``labels`` object (hand-label format)."""
    if label in row:
        return row[label]
    labels = row.get("labels")
    return labels.get(label) if isinstance(labels, dict) else None


def quality(data: Path, int8: Any, fp32: Any, limit: int) -> dict[str, Any]:
    """int8-vs-fp32 per-label ROC-AUC difference and decision flips on a labelled JSONL file."""
    from sklearn.metrics import roc_auc_score

    rows = []
    with data.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                rows.append(json.loads(line))
            if len(rows) >= limit:
                break
    texts = [str(r["text"]) for r in rows]
    p8 = int8.predict_proba(texts)
    p32 = fp32.predict_proba(texts)
    report: dict[str, Any] = {"rows": len(rows), "max_abs_diff": float(np.abs(p8 - p32).max()), "labels": {}}
    for j, label in enumerate(int8.labels):
        threshold = int8.manifest.thresholds.get(label, 0.5)
        flips = int(np.sum((p8[:, j] >= threshold) != (p32[:, j] >= threshold)))
        entry: dict[str, Any] = {"flips": flips, "threshold": threshold}
        values = [(_label_value(r, label), k) for k, r in enumerate(rows)]
        known = [(float(v) >= 0.5, k) for v, k in values if v is not None]
        if known and 0 < sum(y for y, _ in known) < len(known):
            y = [y for y, _ in known]
            idx = [k for _, k in known]
            entry["auc_fp32"] = float(roc_auc_score(y, p32[idx, j]))
            entry["auc_int8"] = float(roc_auc_score(y, p8[idx, j]))
            entry["auc_diff"] = entry["auc_int8"] - entry["auc_fp32"]
        report["labels"][label] = entry
    return report


def _one(fn: Callable[[Sequence[str]], Any]) -> Callable[[str], Any]:
    return lambda text: fn([text])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="bundle ref or directory (default: civility-default)")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--data", type=Path, default=None, help="labelled JSONL for int8-vs-fp32 quality")
    parser.add_argument("--data-limit", type=int, default=4000)
    parser.add_argument("--threads", type=int, default=1, help="threads for every engine (default 1)")
    parser.add_argument("--single", type=int, default=200, help="comments timed one by one")
    parser.add_argument("--single-bert", type=int, default=40, help="comments timed one by one on BERT-base")
    parser.add_argument("--batch-texts", type=int, default=512, help="comments in the throughput run")
    parser.add_argument(
        "--batch-texts-bert", type=int, default=64, help="comments in BERT-base's throughput run"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import torch

    from civility.model.bundle import BundleError
    from civility.model.scorer import Scorer

    torch.set_num_threads(args.threads)
    try:
        int8 = Scorer.load(args.model, precision="int8", threads=args.threads)
        fp32 = Scorer.load(args.model, precision="fp32", threads=args.threads)
    except BundleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    batch_size = int8.config.batch_size
    texts = generate_comments(max(args.single, args.batch_texts), seed=args.seed)
    lengths = [
        len(w.ids) for w in int8.encode([int8.prepare(t)[0].text for t in texts], [None] * len(texts))[0]
    ]
    print(
        f"model {int8.ref}; {len(texts)} generated comments, tokens p50 {percentile(lengths, 50):.0f} "
        f"p95 {percentile(lengths, 95):.0f} (max_length {int8.max_length}); threads {args.threads}; "
        f"batch size {batch_size}",
        flush=True,
    )
    minilm_model, minilm_note = minilm_eager(int8)
    minilm = EagerClassifier(minilm_model, int8, batch_size)
    bert = EagerClassifier(bert_base(), int8, batch_size)
    engines: dict[str, tuple[Callable[[Sequence[str]], Any], int, int]] = {
        "onnx-int8": (int8.predict_proba, args.single, args.batch_texts),
        "onnx-fp32": (fp32.predict_proba, args.single, args.batch_texts),
        "minilm-eager": (minilm, args.single, args.batch_texts),
        "bert-base-eager": (bert, args.single_bert, args.batch_texts_bert),
    }
    results: dict[str, Any] = {}
    for name, (fn, n_single, n_batch) in engines.items():
        single = time_single(_one(fn), texts[:n_single])
        batch = time_batch(fn, texts[:n_batch])
        results[name] = {"single": single, "batch": batch}
        print(
            f"{name:16s} single p50 {single['p50_ms']:7.2f} ms  p95 {single['p95_ms']:7.2f} ms  "
            f"batch {batch['texts_per_s']:7.1f} texts/s",
            flush=True,
        )
    ratios = {
        "int8_single_p50_speedup_vs_bert_base": results["bert-base-eager"]["single"]["p50_ms"]
        / results["onnx-int8"]["single"]["p50_ms"],
        "int8_single_p50_speedup_vs_minilm_eager": results["minilm-eager"]["single"]["p50_ms"]
        / results["onnx-int8"]["single"]["p50_ms"],
        "int8_batch_throughput_vs_minilm_eager": results["onnx-int8"]["batch"]["texts_per_s"]
        / results["minilm-eager"]["batch"]["texts_per_s"],
        "int8_batch_throughput_vs_fp32": results["onnx-int8"]["batch"]["texts_per_s"]
        / results["onnx-fp32"]["batch"]["texts_per_s"],
        "int8_batch_throughput_vs_bert_base": results["onnx-int8"]["batch"]["texts_per_s"]
        / results["bert-base-eager"]["batch"]["texts_per_s"],
    }
    print("ratios (targets: single p50 vs BERT-base >= 10x; batch vs MiniLM eager >= 2x):")
    for key, value in ratios.items():
        print(f"  {key:45s} {value:6.1f}x")
    report: dict[str, Any] = {
        "model": int8.ref,
        "minilm_eager": minilm_note,
        "threads": args.threads,
        "batch_size": batch_size,
        "tokens": {"p50": percentile(lengths, 50), "p95": percentile(lengths, 95)},
        "machine": {
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg(),
            "python": platform.python_version(),
            "torch": torch.__version__,
        },
        "engines": results,
        "ratios": ratios,
    }
    if args.data is not None:
        if not args.data.is_file():
            print(f"error: --data {args.data} does not exist", file=sys.stderr)
            return 2
        report["int8_vs_fp32"] = quality(args.data, int8, fp32, args.data_limit)
        q = report["int8_vs_fp32"]
        print(f"int8 vs fp32 on {q['rows']} labelled rows: max |diff| {q['max_abs_diff']:.3f}")
        for label, entry in q["labels"].items():
            auc = f"AUC diff {entry['auc_diff']:+.4f}" if "auc_diff" in entry else "AUC n/a"
            print(f"  {label:18s} {auc}  flips {entry['flips']}")
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Training-side benchmark: fine-tuning throughput by batching strategy, and export cost.

Measures in one run, on the real corpus (``civility build-data`` output):

* training throughput (forward + backward + AdamW step on the LoRA model, examples/s) with
  length-bucketed dynamic padding (what ``civility train`` does) and, as the baseline, random
  batches padded to their longest row, over the same rows;
* the mean padded batch length of each strategy.

Reports the ratio bucketed / random. Timings on shared machines vary by up to ~40% between runs:
compare within one run, on an otherwise idle machine.

    .venv/bin/python benchmarks/training.py [--data data/corpus] [--steps 30] [--json OUT]
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this directory comes first on sys.path and its http.py would shadow the standard
# library's http package (which torch imports). Drop it before anything else.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)

import argparse
import json
import time
from typing import Any

import numpy as np
import torch

from civility.model.labels import label_ids
from civility.training.lora import load_base_classifier, load_tokenizer, wrap_lora
from civility.training.loss import masked_bce
from civility.training.train_config import load_train_config
from civility.training.trainer_data import Encoded, bucketed_batches, collate, encode, load_corpus


def _measure(
    encoded: Encoded, batches: list[np.ndarray], recipe: str, threads: int, warmup: int
) -> dict[str, Any]:
    config = load_train_config(recipe)
    torch.manual_seed(config.seed)
    torch.set_num_threads(threads)
    labels = label_ids()
    model = wrap_lora(load_base_classifier(labels), config.lora)
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    device = torch.device("cpu")
    seen, widths, started = 0, [], 0.0
    for i, index in enumerate(batches):
        if i == warmup:
            started, seen = time.perf_counter(), 0
        inputs = collate(encoded, index, 0, device)
        loss = masked_bce(
            model(**inputs).logits,
            torch.from_numpy(encoded.targets[index]),
            torch.from_numpy(encoded.weights[index]),
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        seen += len(index)
        widths.append(inputs["input_ids"].shape[1])
    elapsed = time.perf_counter() - started
    return {
        "examples_per_s": round(seen / elapsed, 2),
        "mean_padded_length": round(float(np.mean(widths[warmup:])), 1),
        "timed_steps": len(batches) - warmup,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=Path("data/corpus"))
    parser.add_argument("--recipe", default="train/default.yaml")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    config = load_train_config(args.recipe)
    labels = label_ids()
    train = load_corpus(args.data, labels)["train"].shuffle(seed=config.seed)
    pool = config.optim.batch_size * config.data.bucket_chunk_batches
    encoded = encode(
        train.select(range(min(len(train), pool))), load_tokenizer(), labels, config.data.max_length
    )
    steps = args.steps + args.warmup
    size = config.optim.batch_size
    bucketed = bucketed_batches(encoded.lengths, size, config.data.bucket_chunk_batches, config.seed)[:steps]
    order = np.random.default_rng(config.seed).permutation(len(encoded))
    random_batches = [order[i : i + size] for i in range(0, len(order), size)][:steps]

    result = {
        "recipe": args.recipe,
        "batch_size": size,
        "max_length": config.data.max_length,
        "threads": args.threads,
        "bucketed": _measure(encoded, bucketed, args.recipe, args.threads, args.warmup),
        "random": _measure(encoded, random_batches, args.recipe, args.threads, args.warmup),
    }
    result["speedup_bucketed_vs_random"] = round(
        result["bucketed"]["examples_per_s"] / result["random"]["examples_per_s"], 2
    )
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

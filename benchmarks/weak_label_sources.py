"""How good are ``civility label``'s rule sources? Precision, recall and firing rate of each
lexicon / pattern file against human labels in public corpora, plus matching speed.

Run by hand (never a timed test)::

    .venv/bin/python benchmarks/weak_label_sources.py [--datasets ../shared/datasets]

Pairs (rule source -> corpus column):
  targeting_patterns -> kaggle_insults_impermium/test_with_solutions.csv  Insult
  profanity_lexicon  -> youtoxic_youtube/youtoxic_english_1000.csv         IsObscene
  threat_patterns    -> youtoxic_youtube/youtoxic_english_1000.csv         IsThreat
  slur_lexicon       -> youtoxic_youtube/youtoxic_english_1000.csv         IsHatespeech
A weak source that fires rarely but precisely is what the labeller needs: silence abstains.
"""

from __future__ import annotations

import argparse
import csv
import time
from dataclasses import dataclass
from pathlib import Path

from civility.training.labeling.matching import PhraseMatcher
from civility.training.labeling.settings import load_label_config, load_lexicon

DEFAULT_DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
PAIRS = [
    ("targeting_patterns", "kaggle_insults_impermium/test_with_solutions.csv", "Comment", "Insult"),
    ("profanity_lexicon", "youtoxic_youtube/youtoxic_english_1000.csv", "Text", "IsObscene"),
    ("threat_patterns", "youtoxic_youtube/youtoxic_english_1000.csv", "Text", "IsThreat"),
    ("slur_lexicon", "youtoxic_youtube/youtoxic_english_1000.csv", "Text", "IsHatespeech"),
]


@dataclass
class Result:
    source: str
    corpus: str
    rows: int
    positives: int
    fired: int
    true_positives: int
    seconds: float

    @property
    def precision(self) -> float:
        return self.true_positives / self.fired if self.fired else float("nan")

    @property
    def recall(self) -> float:
        return self.true_positives / self.positives if self.positives else float("nan")


def _truthy(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "1.0"}


def evaluate(datasets: Path) -> list[Result]:
    config = load_label_config()
    rules = config.weak.sources.rules()
    results = []
    for source, relative, text_column, label_column in PAIRS:
        path = datasets / relative
        if not path.is_file():
            print(f"skipping {source}: {path} not found")
            continue
        with path.open(encoding="utf-8", newline="") as fh:
            rows = [(row[text_column], _truthy(row[label_column])) for row in csv.DictReader(fh)]
        matcher = PhraseMatcher(source, load_lexicon(rules[source].file), config.matching)
        matcher.fires("warm up the normaliser's vocabulary")
        start = time.perf_counter()
        fired = [matcher.fires(text) for text, _ in rows]
        seconds = time.perf_counter() - start
        results.append(
            Result(
                source=source,
                corpus=f"{relative}:{label_column}",
                rows=len(rows),
                positives=sum(label for _, label in rows),
                fired=sum(fired),
                true_positives=sum(f and label for f, (_, label) in zip(fired, rows, strict=True)),
                seconds=seconds,
            )
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS)
    args = parser.parse_args()
    print(
        f"{'source':<20} {'corpus':<58} {'rows':>5} {'pos':>5} {'fired':>5} "
        f"{'prec':>5} {'recall':>6} {'ms/text':>7}"
    )
    for r in evaluate(args.datasets):
        print(
            f"{r.source:<20} {r.corpus:<58} {r.rows:>5} {r.positives:>5} {r.fired:>5} "
            f"{r.precision:>5.2f} {r.recall:>6.2f} {1000 * r.seconds / r.rows:>7.2f}"
        )


if __name__ == "__main__":
    main()

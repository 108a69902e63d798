"""Score texts with one shipped baseline classifier, inside the baselines venv (``.venv-baselines``).

This script runs under the baselines' own interpreter (old scikit-learn/joblib pins), never in the
product venv, and imports nothing from Civility. ``civility.training.evaluation.baselines`` calls it:

    .venv-baselines/bin/python benchmarks/baselines/run_baseline.py NAME --input IN.jsonl \
        --output OUT.jsonl --status STATUS.json

IN.jsonl has one ``{"text": ...}`` per line; OUT.jsonl gets one ``{output_name: probability}`` per line
in the same order; STATUS.json gets ``{"baseline", "ok", "version", "outputs", "notes"}``. A baseline
that cannot run writes ``ok: false`` with the reason in ``notes`` and exits 0, so the caller can report it.
"""

from __future__ import annotations

import argparse
import json
import os
import string
import sys
import traceback
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

Scores = list[dict[str, float]]
BATCH = 512


def _batches(texts: Sequence[str]) -> list[Sequence[str]]:
    return [texts[i : i + BATCH] for i in range(0, len(texts), BATCH)]


def run_profanity_check(texts: Sequence[str], notes: list[str]) -> Scores:
    from profanity_check import predict_prob

    out: Scores = []
    for batch in _batches(texts):
        out.extend({"profane": float(p)} for p in predict_prob(list(batch)))
    return out


def run_hatesonar(texts: Sequence[str], notes: list[str]) -> Scores:
    import numpy as np

    if not os.environ.get("LOCPATH"):
        notes.append("LOCPATH is not set: hatesonar's ONNX graph needs an en_US.UTF-8 locale (see setup.sh)")
    from hatesonar import Sonar

    sonar = Sonar()
    names = sonar.mapping  # {0: "hate_speech", 1: "offensive_language", 2: "neither"}
    out: Scores = []
    for batch in _batches(texts):
        _, probs = sonar.sess.run(None, {"text": np.array(list(batch), dtype=object)})
        out.extend({names[k]: float(row[k]) for k in sorted(names)} for row in probs)
    return out


def _nltk_tokenizer() -> Callable[[str], list[str]]:
    """offensivetext's ``tokenize`` (its pickled vectorizers reference ``__main__.tokenize``).

    The original lower-cases, strips ASCII punctuation, runs ``nltk.word_tokenize``, drops NLTK
    English stopwords and links/@-mentions, and lemmatises with WordNet. Offline differences:
    sentence splitting (punkt) is a no-op once punctuation is stripped, so the Treebank word
    tokenizer is used directly; the NLTK stopword list is not available offline and is not applied:
    a token is only used at transform time if it is in the fitted vocabulary, i.e. if the training
    tokenizer kept it (the vocabularies contain "i", "me", "he", "no", so the training-time list was
    not NLTK's current one anyway). WordNet comes from NLTK_DATA (``setup.sh`` builds it from
    Debian's ``wordnet-base``).
    """
    from nltk.stem import WordNetLemmatizer
    from nltk.tokenize import NLTKWordTokenizer

    lemmatizer = WordNetLemmatizer()
    lemmatizer.lemmatize("tests")  # fails here, not mid-run, when the WordNet data is missing
    words = NLTKWordTokenizer()
    table = str.maketrans(" ", " ", string.punctuation)

    def tokenize(doc: str) -> list[str]:
        return [
            lemmatizer.lemmatize(token)
            for token in words.tokenize(doc.translate(table).lower())
            if not (token[0] == "@" or token[:7] == "https:/")
        ]

    return tokenize


def run_offensivetext(texts: Sequence[str], notes: list[str]) -> Scores:
    import importlib.util

    import joblib
    import nltk

    # offensivetext calls nltk.download(...) at import, which needs the internet; load its
    # pickles directly instead of importing the module.
    nltk.download = lambda *args, **kwargs: True
    import __main__

    __main__.tokenize = _nltk_tokenizer()
    spec = importlib.util.find_spec("offensivetext")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("offensivetext is not installed in this venv")
    models = Path(next(iter(spec.submodule_search_locations))) / "models"
    filters = {
        "racism": "racism_filter",
        "sexism": "sexism_filter",
        "sexual_content": "sexual_content_filter",
        "cyberbullying": "cyberbullying_filter",
    }
    loaded: dict[str, tuple[Any, Any]] = {}
    for output, stem in filters.items():
        loaded[output] = (
            joblib.load(models / f"vectorizer_bayesian_{stem}.sav"),
            joblib.load(models / f"bayesian_{stem}.sav"),
        )
        try:
            joblib.load(models / f"decision_{stem}.sav")
        except Exception as exc:  # the RandomForest pickles from scikit-learn < 1.3
            reason = str(exc).splitlines()[0].rstrip(":")
            notes.append(
                f"RandomForestFilter decision_{stem}.sav does not load on scikit-learn "
                f"{metadata.version('scikit-learn')}: {type(exc).__name__}: {reason}; "
                f"its BayesianFilter (MultinomialNB) is used instead"
            )
    out: Scores = [{} for _ in texts]
    for output, (vectorizer, model) in loaded.items():
        positive = list(model.classes_).index(1)
        for start, batch in zip(range(0, len(texts), BATCH), _batches(texts), strict=True):
            probs = model.predict_proba(vectorizer.transform(list(batch)))[:, positive]
            for offset, p in enumerate(probs):
                out[start + offset][output] = float(p)
    return out


RUNNERS: dict[str, tuple[str, Callable[[Sequence[str], list[str]], Scores]]] = {
    "profanity_check": ("alt-profanity-check", run_profanity_check),
    "hatesonar": ("hatesonar", run_hatesonar),
    "offensivetext": ("offensivetext", run_offensivetext),
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("baseline", choices=sorted(RUNNERS))
    parser.add_argument("--input", type=Path, required=True)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--status", type=Path, required=True)
    args = parser.parse_args(argv)
    package, run = RUNNERS[args.baseline]
    notes: list[str] = []
    status: dict[str, Any] = {
        "baseline": args.baseline,
        "ok": False,
        "version": None,
        "outputs": [],
        "notes": notes,
    }
    try:
        status["version"] = f"{package} {metadata.version(package)}"
        with args.input.open(encoding="utf-8") as fh:
            texts = [json.loads(line)["text"] for line in fh if line.strip()]
        scores = run(texts, notes)
        with args.output.open("w", encoding="utf-8") as fh:
            for row in scores:
                fh.write(json.dumps(row) + "\n")
        status.update(ok=True, outputs=sorted(scores[0]) if scores else [])
    except Exception as exc:
        notes.append(f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}")
        traceback.print_exc(file=sys.stderr)
    args.status.write_text(json.dumps(status, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

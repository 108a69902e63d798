"""The hand-written functional suites: format, the pass-rate evaluator, and the shipped model on them."""

from __future__ import annotations

import json
import unicodedata
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from civility.model.bundle import BundleError
from civility.model.labels import label_ids
from civility.model.scorer import Scorer
from civility.training.evaluation.config import load_evaluation_config, repo_root
from civility.training.evaluation.functional import (
    FunctionalCase,
    FunctionalSuiteError,
    evaluate_functional,
    load_suite_file,
    load_suites,
    score_cases,
)

SUITES_DIR = repo_root() / "tests" / "data" / "functional"
SUITE_FILES = sorted(SUITES_DIR.glob("*.jsonl"))
EXPECTED_SUITES = {
    "identity_mentions",
    "counter_speech",
    "negation",
    "profanity_not_abuse",
    "harassment_vs_criticism",
    "obfuscation",
    "threats",
}

# Floors the shipped default model meets on the suites (rank accuracy: share of (high, low) pairs
# ordered correctly), so a new default cannot quietly rank worse than the one it replaces.
OVERALL_RANK_ACCURACY_FLOOR = 0.83  # measured 0.882 (civility-default 2.0.4; 1.9.0 0.804, 1.6.0 0.816)
# Regression floors for civility-default 2.0.4: its measured rank accuracy (int8, one text per call,
# 2026-12-07) minus 0.05, rounded down; 1.9.0's measurement in brackets. Raised with 2.0.4, whose
# contrast sets (configs/contrast/, written without reading these suites) target exactly these failure
# modes. Negation stays the weakest suite (see the model card).
SUITE_RANK_ACCURACY_FLOORS: dict[str, float] = {
    "counter_speech": 0.77,  # measured 0.826 (1.9.0: 0.688)
    "harassment_vs_criticism": 0.88,  # 0.937 (0.937)
    "identity_mentions": 0.86,  # 0.917 (0.910)
    "negation": 0.56,  # 0.617 (0.469)
    "obfuscation": 0.95,  # 1.000 (1.000)
    "profanity_not_abuse": 0.95,  # 1.000 (1.000)
    "threats": 0.82,  # 0.873 (0.714)
}


# ---------------------------------------------------------------- format


def test_every_expected_suite_is_present() -> None:
    assert {p.stem for p in SUITE_FILES} == EXPECTED_SUITES


@pytest.mark.parametrize("path", SUITE_FILES, ids=lambda p: p.stem)
def test_suite_format(path: Path) -> None:
    cases = load_suite_file(path, label_ids())
    assert 20 <= len(cases) <= 40, f"{path.name}: {len(cases)} rows (aim for 20-40)"
    assert {c.suite for c in cases} == {path.stem}, "the suite field must match the file name"
    pairs = Counter((c.text, c.label) for c in cases)
    assert max(pairs.values()) == 1, f"duplicate (text, label) rows: {[k for k, v in pairs.items() if v > 1]}"
    expectations = {c.expect for c in cases}
    assert expectations == {"low", "high"}, (
        "every suite needs high and low items so the rank criterion is defined"
    )
    by_label: dict[str, set[str]] = {}
    for case in cases:
        by_label.setdefault(case.label, set()).add(case.expect)
    assert any(v == {"low", "high"} for v in by_label.values()), "no label has both high and low items"
    for line in path.read_text(encoding="utf-8").splitlines():
        assert set(json.loads(line)) == {"text", "label", "expect", "suite"}


def test_obfuscation_suite_covers_every_disguise() -> None:
    texts = [c.text for c in load_suite_file(SUITES_DIR / "obfuscation.jsonl")]
    assert any("\u200b" in t for t in texts), "zero-width characters"
    assert any(unicodedata.name(ch, "").startswith("CYRILLIC") for t in texts for ch in t), "homoglyphs"
    assert any(any(d in t for d in "013") and any(ch.isalpha() for ch in t) for t in texts), "leetspeak"
    assert any("s t u p i d" in t or "t r a s h" in t for t in texts), "spaced letters"
    assert any("." in t and "f.u.c.k" in t for t in texts), "inserted punctuation"


def test_bad_suite_rows_name_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.jsonl"
    good = {"text": "hello", "label": "toxicity", "expect": "low", "suite": "broken"}
    path.write_text(
        json.dumps(good) + "\n" + json.dumps({**good, "expect": "medium"}) + "\n", encoding="utf-8"
    )
    with pytest.raises(FunctionalSuiteError, match=r"broken.jsonl:2: expect"):
        load_suite_file(path)
    path.write_text(json.dumps({**good, "label": "rudeness"}) + "\n", encoding="utf-8")
    with pytest.raises(FunctionalSuiteError, match="unknown label 'rudeness'"):
        load_suite_file(path, label_ids())
    path.write_text("{not json\n", encoding="utf-8")
    with pytest.raises(FunctionalSuiteError, match=r":1: not valid JSON"):
        load_suite_file(path)
    with pytest.raises(FunctionalSuiteError, match="not found"):
        load_suites(tmp_path / "missing")


# ---------------------------------------------------------------- evaluator


def _case(text: str, label: str, expect: str, suite: str = "s") -> FunctionalCase:
    return FunctionalCase.model_validate({"text": text, "label": label, "expect": expect, "suite": suite})


def test_pass_rates_by_threshold_and_by_rank() -> None:
    cases = [
        _case("h1", "insult", "high"),  # 0.9 pass
        _case("h2", "insult", "high"),  # 0.4 fail
        _case("l1", "insult", "low"),  # 0.1 pass
        _case("l2", "insult", "low"),  # 0.6 fail
        _case("l3", "insult", "low"),  # 0.4 pass; ties h2
        _case("t1", "threat", "high"),  # 0.8 pass
        _case("t2", "threat", "low"),  # 0.2 pass
        _case("x", "harassment", "low", suite="other"),  # NaN: skipped
    ]
    scores = [0.9, 0.4, 0.1, 0.6, 0.4, 0.8, 0.2, np.nan]
    result = evaluate_functional(cases, scores, low_below=0.5, high_at_least=0.5)

    suite = result["suites"]["s"]
    assert suite["items"] == 7 and suite["passed"] == 5
    assert suite["threshold_pass_rate"] == pytest.approx(5 / 7)
    # insult pairs (high x low): h1 beats all 3; h2 beats l1, loses to l2, ties l3 -> 4.5 of 6
    insult = suite["labels"]["insult"]
    assert insult["rank_pairs"] == 6
    assert insult["rank_accuracy"] == pytest.approx(4.5 / 6)
    assert insult["rank_pass"] is False
    assert suite["labels"]["threat"]["rank_pass"] is True
    # pooled over labels: 4.5 + 1 correct of 6 + 1 pairs
    assert suite["rank_accuracy"] == pytest.approx(5.5 / 7)
    assert {(f["text"], f["expect"]) for f in suite["failures"]} == {("h2", "high"), ("l2", "low")}

    assert result["suites"]["other"] == {"items": 0, "skipped": 1, "labels": {}, "failures": []}
    assert result["overall"]["items"] == 7 and result["overall"]["skipped"] == 1
    assert result["overall"]["threshold_pass_rate"] == pytest.approx(5 / 7)


def test_configurable_thresholds_change_the_verdict() -> None:
    cases = [_case("a", "toxicity", "high"), _case("b", "toxicity", "low")]
    strict = evaluate_functional(cases, [0.6, 0.3], low_below=0.2, high_at_least=0.7)
    lenient = evaluate_functional(cases, [0.6, 0.3], low_below=0.5, high_at_least=0.5)
    assert strict["overall"]["threshold_pass_rate"] == 0.0
    assert lenient["overall"]["threshold_pass_rate"] == 1.0
    assert strict["overall"]["rank_accuracy"] == lenient["overall"]["rank_accuracy"] == 1.0


def test_score_count_must_match_cases() -> None:
    with pytest.raises(ValueError, match="2 scores for 1 cases"):
        evaluate_functional([_case("a", "toxicity", "high")], [0.1, 0.2])


# ---------------------------------------------------------------- the shipped model


@pytest.fixture(scope="module")
def default_scorer() -> Scorer:
    try:
        return Scorer.load()
    except BundleError as exc:
        pytest.skip(f"no default bundle installed yet: {exc}")


@pytest.mark.slow
def test_shipped_model_on_the_functional_suites(default_scorer: Scorer) -> None:
    config = load_evaluation_config()
    cases = load_suites(SUITES_DIR, label_ids())
    scores = score_cases(cases, default_scorer.predict_proba, default_scorer.labels)
    result = evaluate_functional(
        cases, scores, low_below=config.functional.low_below, high_at_least=config.functional.high_at_least
    )
    assert set(result["suites"]) == EXPECTED_SUITES
    assert result["overall"]["skipped"] == 0, "the default model should produce every label the suites use"
    assert result["overall"]["rank_accuracy"] > OVERALL_RANK_ACCURACY_FLOOR, result["overall"]
    for suite, floor in SUITE_RANK_ACCURACY_FLOORS.items():
        assert result["suites"][suite]["rank_accuracy"] >= floor, (suite, result["suites"][suite])

"""Scorer on a real exported bundle: shapes, batching, windows, truncation, spans, no torch."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from civility.model.bundle import BundleError, Calibration
from civility.model.calibration import Calibrator, calibrate_column, sigmoid
from civility.model.labels import label_ids
from civility.model.scorer import Scorer, ScoringError
from civility.model.scoring_config import load_scoring_config

COMMENTS = [
    "Thanks for the thoughtful article, I learned a lot.",
    "You are an idiot and everyone here knows it.",
    "The council should publish the budget before the vote.",
    "ok",
    "I will find you and make you regret this.",
    "What a load of rubbish, the writer clearly has no idea what they are talking about at all.",
]


@pytest.fixture(scope="module")
def scorer(dev_bundle: Path) -> Scorer:
    return Scorer.load(dev_bundle, precision="fp32", threads=1)


@pytest.fixture(scope="module")
def scorer_int8(dev_bundle: Path) -> Scorer:
    return Scorer.load(dev_bundle, precision="int8", threads=1)


def test_scoring_never_imports_torch(dev_bundle: Path) -> None:
    code = textwrap.dedent(
        f"""
        import sys
        from civility.model.scorer import Scorer
        scorer = Scorer.load({str(dev_bundle)!r})
        result = scorer.score(["you are a f u c k i n g idiot", "hello"], spans=True)
        assert len(result) == 2
        scorer.predict_proba(["x " * 400])
        assert "torch" not in sys.modules, "torch was imported on the scoring path"
        print("ok")
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_identity_and_ref(scorer: Scorer) -> None:
    assert scorer.labels == label_ids()
    assert scorer.ref == scorer.manifest.ref
    assert scorer.precision == "fp32"


def test_predict_proba_shape_and_range(scorer: Scorer) -> None:
    probs = scorer.predict_proba(COMMENTS)
    assert probs.shape == (len(COMMENTS), len(scorer.labels))
    assert np.all((probs >= 0) & (probs <= 1))
    assert scorer.predict_proba([]).shape == (0, len(scorer.labels))


def test_batching_does_not_change_scores(scorer: Scorer) -> None:
    together = scorer.predict_proba(COMMENTS)
    alone = np.vstack([scorer.predict_proba([c]) for c in COMMENTS])
    np.testing.assert_allclose(together, alone, atol=1e-5)
    shuffled = scorer.predict_proba(COMMENTS[::-1])[::-1]
    np.testing.assert_allclose(together, shuffled, atol=1e-5)


def test_int8_score_does_not_depend_on_batch_neighbours(scorer_int8: Scorer) -> None:
    # Dynamic int8 quantisation scales activations over the whole batch; the scorer runs int8 graphs
    # one window per call so the same comment always gets the same score, whatever it is sent with.
    together = scorer_int8.predict_proba(COMMENTS)
    alone = np.vstack([scorer_int8.predict_proba([c]) for c in COMMENTS])
    np.testing.assert_array_equal(together, alone)
    reversed_order = scorer_int8.predict_proba(COMMENTS[::-1])[::-1]
    np.testing.assert_array_equal(together, reversed_order)


def test_int8_agrees_with_fp32(scorer: Scorer, scorer_int8: Scorer) -> None:
    assert scorer_int8.precision == "int8"
    difference = np.abs(scorer.predict_proba(COMMENTS) - scorer_int8.predict_proba(COMMENTS))
    assert difference.max() < 0.2


def test_score_result_contract(scorer: Scorer) -> None:
    results = scorer.score(COMMENTS)
    probs = scorer.predict_proba(COMMENTS)
    assert len(results) == len(COMMENTS)
    for result, row in zip(results, probs, strict=True):
        assert list(result.scores) == scorer.labels
        np.testing.assert_allclose(list(result.scores.values()), row)
        for label, value in result.scores.items():
            assert result.flagged[label] == (value >= scorer.manifest.thresholds[label])
        assert result.spans is None
        assert result.truncated is False
        assert result.language == "en" and result.english


def test_label_subset_and_errors(scorer: Scorer) -> None:
    result = scorer.score(["you idiot"], labels=["insult", "threat"])[0]
    assert list(result.scores) == ["insult", "threat"]
    with pytest.raises(ScoringError, match="unknown label"):
        scorer.score(["x"], labels=["insult", "rudeness"])
    with pytest.raises(ScoringError, match="list of strings"):
        scorer.score("a single string")
    with pytest.raises(ScoringError, match="must be strings"):
        scorer.predict_proba(["ok", 3])
    with pytest.raises(ScoringError, match="one entry"):
        scorer.score(["a", "b"], contexts=["only one"])


def test_context_is_ignored_unless_the_model_uses_it(scorer: Scorer) -> None:
    assert not scorer.uses_context  # the dev bundle was trained without context
    plain = scorer.predict_proba(["you idiot"])
    with_context = scorer.predict_proba(["you idiot"], contexts=["Article: local elections"])
    np.testing.assert_allclose(plain, with_context)


def test_context_is_the_second_segment_when_the_model_uses_it(scorer: Scorer) -> None:
    scorer_with_context = Scorer(scorer.bundle, threads=1)
    scorer_with_context.uses_context = True
    windows, owners = scorer_with_context.encode(["you idiot"], [scorer_with_context._context("The article")])
    assert owners == [0]
    assert windows[0].sequence_ids.count(1) > 0  # context tokens present as segment 1
    assert max(windows[0].type_ids) == 1


def test_long_text_scores_the_max_over_windows(scorer: Scorer) -> None:
    filler = "The council met on Tuesday to discuss the new parking rules for the town centre. " * 12
    text = filler + "You are a pathetic idiot and I will hurt you."
    windows, _ = scorer.encode([scorer.prepare(text)[0].text], [None])
    assert len(windows) > 1, "the text must be longer than one window"
    pieces = []
    for window in windows:
        offsets = [o for o, s in zip(window.offsets, window.sequence_ids, strict=True) if s == 0]
        pieces.append(text[offsets[0][0] : offsets[-1][1]])
    per_window = scorer.predict_proba(pieces)
    np.testing.assert_allclose(scorer.predict_proba([text])[0], per_window.max(axis=0), atol=1e-4)
    assert "hurt you" in pieces[-1] and "hurt you" not in pieces[0]


def test_text_over_the_character_cap_is_truncated(scorer: Scorer) -> None:
    config = load_scoring_config().model_copy(update={"max_chars": 300})
    capped = Scorer(scorer.bundle, threads=1, config=config)
    text = "word " * 100 + "tail end of a very long comment"
    result = capped.score([text, text[:300]])
    assert result[0].truncated and not result[1].truncated
    assert result[0].scores == result[1].scores


def test_obfuscated_text_scores_like_the_plain_text(scorer: Scorer) -> None:
    plain = scorer.predict_proba(["you are a fucking idiot"])
    for disguised in [
        "you are a f u c k i n g 1d10t",
        "you are a fuсking іdіоt",
        "you are a fu\u200bcking id.iot",
    ]:
        np.testing.assert_allclose(scorer.predict_proba([disguised]), plain, atol=1e-6)


def test_spans_point_into_the_original_text(scorer: Scorer) -> None:
    config = load_scoring_config().model_copy(
        update={"spans": load_scoring_config().spans.model_copy(update={"label_floor": 0.0, "min_drop": 0.0})}
    )
    permissive = Scorer(scorer.bundle, threads=1, config=config)
    text = "honestly you are a f u c k i n g іdіоt, mate"
    result = permissive.score([text], spans=True)[0]
    assert result.spans is not None and set(result.spans) == set(permissive.labels)
    found = [span for spans in result.spans.values() for span in spans]
    assert found, "with a zero floor and zero minimum drop some word must form a span"
    for span in found:
        assert 0 <= span.begin < span.end <= len(text)
        assert text[span.begin : span.end] == span.text
        assert span.score >= 0
        assert not text[span.begin].isspace() and not text[span.end - 1].isspace()
    spelled = {span.text for span in found}
    assert spelled & {"f u c k i n g", "іdіоt", "f u c k i n g іdіоt"} or any(
        "f u c k" in s or "іdіоt" in s for s in spelled
    )


def test_spans_respect_the_floor(scorer: Scorer) -> None:
    config = load_scoring_config().model_copy(
        update={"spans": load_scoring_config().spans.model_copy(update={"label_floor": 1.0})}
    )
    strict = Scorer(scorer.bundle, threads=1, config=config)
    result = strict.score(["you idiot"], spans=True, labels=["insult"])[0]
    assert result.spans == {"insult": []}


def test_spans_on_a_long_text_stay_bounded(scorer: Scorer) -> None:
    config = load_scoring_config().model_copy(
        update={
            "spans": load_scoring_config().spans.model_copy(
                update={"label_floor": 0.0, "min_drop": 0.0, "max_units": 8}
            )
        }
    )
    bounded = Scorer(scorer.bundle, threads=1, config=config)
    text = "This is a long and rambling comment about the parking rules in town. " * 16
    result = bounded.score([text], spans=True, labels=["toxicity"])[0]
    assert result.spans is not None
    for span in result.spans["toxicity"]:
        assert text[span.begin : span.end] == span.text


def test_language_is_reported(scorer: Scorer) -> None:
    english, german = scorer.score(
        ["I think the mayor is wrong about this.", "Das ist ein sehr schlechter Artikel, finde ich wirklich."]
    )
    assert english.language == "en" and english.english
    assert german.language == "de" and not german.english


def test_load_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="not a bundle directory"):
        Scorer.load(tmp_path)


# -- calibration ---------------------------------------------------------------------------------


def test_isotonic_interpolates_and_clips() -> None:
    calibration = Calibration(method="isotonic", x=[0.2, 0.5, 0.8], y=[0.1, 0.4, 0.9])
    raw = np.array([0.05, 0.2, 0.35, 0.65, 0.8, 0.99])
    logits = np.log(raw / (1 - raw))
    expected = [0.1, 0.1, 0.25, 0.65, 0.9, 0.9]  # flat beyond the ends, linear in between
    np.testing.assert_allclose(calibrate_column(logits, calibration), expected, atol=1e-9)


def test_temperature_and_identity() -> None:
    logits = np.array([[-2.0, 0.0], [3.0, 1.0]])
    calibrator = Calibrator(
        ["a", "b"], {"a": Calibration(method="temperature", temperature=2.0, bias=0.5), "b": Calibration()}
    )
    out = calibrator(logits)
    np.testing.assert_allclose(out[:, 0], 1 / (1 + np.exp(-(logits[:, 0] / 2.0 + 0.5))))
    np.testing.assert_allclose(out[:, 1], 1 / (1 + np.exp(-logits[:, 1])))
    assert np.all(np.isfinite(sigmoid(np.array([-1000.0, 1000.0]))))


def test_broken_calibration_is_refused() -> None:
    with pytest.raises(BundleError, match="isotonic"):
        Calibrator(["a"], {"a": Calibration(method="isotonic", x=[0.0, 1.0], y=[0.5])})
    with pytest.raises(BundleError, match="temperature"):
        Calibrator(["a"], {"a": Calibration(method="temperature", temperature=0.0)})
    with pytest.raises(ValueError, match="shape"):
        Calibrator(["a"], {})(np.zeros((2, 3)))


def test_spans_survive_a_saturated_calibration(dev_bundle: Path, tmp_path: Path) -> None:
    """Where calibration is flat (every score maps to 1.0), single-word drops still show up via raw scores."""
    from civility.model.bundle import read_manifest, write_manifest

    copy = tmp_path / "flat"
    shutil.copytree(dev_bundle, copy)
    manifest = read_manifest(copy)
    flat = Calibration(method="isotonic", x=[0.0, 1e-9], y=[1.0, 1.0])
    (copy / "manifest.json").unlink()
    write_manifest(copy, manifest.model_copy(update={"calibration": dict.fromkeys(manifest.labels, flat)}))
    spans_config = load_scoring_config().spans.model_copy(update={"label_floor": 0.5, "min_drop": 1e-6})
    config = load_scoring_config().model_copy(update={"spans": spans_config})
    saturated = Scorer.load(copy, precision="fp32", threads=1, config=config)
    text = "you are a stupid idiot and a liar"
    result = saturated.score([text], spans=True, labels=["toxicity"])[0]
    assert result.scores["toxicity"] == 1.0
    assert result.spans is not None and result.spans["toxicity"], "raw-score drops must still yield spans"
    for span in result.spans["toxicity"]:
        assert text[span.begin : span.end] == span.text and span.score > 0

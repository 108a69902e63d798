"""Evaluators (ranking, calibration, bias), evaluation data loading, baselines and the report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from sklearn.calibration import calibration_curve
from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

from civility.model.labels import label_ids
from civility.service.policy import Policy, PolicyConfig
from civility.training.evaluation.baselines import map_outputs, run_baseline
from civility.training.evaluation.bias import (
    IdentityMatcher,
    bias_metrics,
    bnsp_auc,
    bpsn_auc,
    load_bias_sets,
    power_mean,
    subgroup_auc,
)
from civility.training.evaluation.calibration import calibration_metrics, plot_reliability, reliability_bins
from civility.training.evaluation.config import (
    BaselineLabelMap,
    BaselineModelConfig,
    EvaluationConfig,
    PolicyOutcomesConfig,
    datasets_dir,
    load_evaluation_config,
    repo_root,
)
from civility.training.evaluation.eval_data import EvalDataError, load_eval_data
from civility.training.evaluation.functional import FunctionalCase, evaluate_functional
from civility.training.evaluation.pipeline import EvaluationRequest, run_evaluation
from civility.training.evaluation.policy_outcomes import policy_outcomes
from civility.training.evaluation.ranking import (
    label_ranking_metrics,
    ranking_metrics,
    ranking_metrics_by_group,
)
from civility.training.evaluation.report import render_markdown, write_report

LABELS = label_ids()


@pytest.fixture(scope="module")
def config() -> EvaluationConfig:
    return load_evaluation_config()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(7)


# ---------------------------------------------------------------- ranking


def test_ranking_matches_scikit_learn_on_annotated_rows(rng: np.random.Generator) -> None:
    n = 500
    soft = rng.random(n)
    score = np.clip(soft + rng.normal(0, 0.3, n), 0, 1)
    soft[rng.random(n) < 0.2] = np.nan  # not annotated
    keep = np.isfinite(soft)
    y = (soft[keep] >= 0.5).astype(int)

    m = label_ranking_metrics(soft, score, threshold=0.4)

    assert m["rows"] == keep.sum()
    assert m["positives"] == y.sum()
    assert m["roc_auc"] == pytest.approx(roc_auc_score(y, score[keep]))
    assert m["pr_auc"] == pytest.approx(average_precision_score(y, score[keep]))
    assert m["f1"] == pytest.approx(f1_score(y, score[keep] >= 0.4))
    assert m["tp"] + m["fp"] + m["tn"] + m["fn"] == keep.sum()


def test_confusion_counts_by_hand() -> None:
    y = np.array([1, 1, 0, 0, 0, np.nan])
    s = np.array([0.9, 0.2, 0.7, 0.1, 0.69, 0.99])
    m = label_ranking_metrics(y, s, threshold=0.7)
    assert (m["tp"], m["fp"], m["tn"], m["fn"]) == (1, 1, 2, 1)
    assert m["precision"] == 0.5
    assert m["recall"] == 0.5
    assert m["f1"] == 0.5
    # pairs (pos, neg): 0.9 beats all 3 negatives, 0.2 beats only 0.1 -> 4/6
    assert m["roc_auc"] == pytest.approx(4 / 6)


def test_single_class_and_no_prediction_are_undefined_not_zero() -> None:
    m = label_ranking_metrics(np.zeros(4), np.array([0.1, 0.2, 0.3, 0.4]), threshold=0.9)
    assert m["roc_auc"] is None and m["pr_auc"] is None
    assert m["precision"] is None and m["recall"] is None and m["f1"] is None
    assert m["tn"] == 4


def test_ranking_metrics_skip_unannotated_labels_and_split_by_group(rng: np.random.Generator) -> None:
    labels = ["toxicity", "insult"]
    targets = np.column_stack([rng.integers(0, 2, 60).astype(float), np.full(60, np.nan)])
    scores = rng.random((60, 2))
    per_label = ranking_metrics(targets, scores, labels, {"toxicity": 0.5})
    assert list(per_label) == ["toxicity"]

    groups = ["a"] * 20 + ["b"] * 40
    by_group = ranking_metrics_by_group(targets, scores, labels, groups, {"toxicity": 0.5})
    assert set(by_group) == {"a", "b"}
    assert by_group["a"]["toxicity"]["rows"] == 20
    expected = roc_auc_score(targets[20:, 0], scores[20:, 0])
    assert by_group["b"]["toxicity"]["roc_auc"] == pytest.approx(expected)


def test_ranking_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="must both be"):
        ranking_metrics(np.zeros((3, 2)), np.zeros((3, 1)), ["a", "b"])


# ---------------------------------------------------------------- calibration


def test_reliability_bins_match_scikit_learn(rng: np.random.Generator) -> None:
    y = rng.integers(0, 2, 400).astype(float)
    p = rng.random(400)
    p[:5] = [0.0, 0.2, 0.4, 1.0, 0.6]  # bin edges land where scikit-learn puts them
    bins = reliability_bins(y, p, bins=5)
    prob_true, prob_pred = calibration_curve(y, p, n_bins=5, strategy="uniform")
    assert [b["mean_observed"] for b in bins] == pytest.approx(list(prob_true))
    assert [b["mean_predicted"] for b in bins] == pytest.approx(list(prob_pred))


def test_ece_by_hand_with_soft_targets() -> None:
    # two bins of 2: [0.1, 0.3] vs observed [0.0, 0.2] -> |0.1 - 0.2| = 0.1 ; [0.8, 0.9] vs [1.0, 1.0] -> 0.15
    y = np.array([0.0, 0.2, 1.0, 1.0, np.nan])
    p = np.array([0.1, 0.3, 0.8, 0.9, 0.5])
    m = calibration_metrics(y, p, bins=2)
    assert m["rows"] == 4
    assert m["ece"] == pytest.approx((2 * 0.1 + 2 * 0.15) / 4)
    assert m["brier"] == pytest.approx(np.mean([0.01, 0.01, 0.04, 0.01]))


def test_perfectly_calibrated_scores_have_zero_ece() -> None:
    p = np.repeat([0.05, 0.25, 0.45, 0.65, 0.85], 20)
    assert calibration_metrics(p, p, bins=5)["ece"] == pytest.approx(0.0)


def test_too_few_rows_gives_no_ece() -> None:
    m = calibration_metrics(np.array([1.0, 0.0]), np.array([0.9, 0.1]), bins=10, min_rows=20)
    assert m["ece"] is None and m["rows"] == 2


def test_probabilities_outside_unit_interval_are_rejected() -> None:
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        calibration_metrics(np.array([1.0]), np.array([1.5]))


def test_reliability_plot_is_a_png(tmp_path: Path, rng: np.random.Generator) -> None:
    y = rng.integers(0, 2, 200).astype(float)
    curves = {
        "model": calibration_metrics(y, rng.random(200)),
        "baseline": calibration_metrics(y, rng.random(200)),
    }
    path = plot_reliability(curves, tmp_path / "reliability_toxicity.png", title="toxicity")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 5_000


# ---------------------------------------------------------------- bias


def test_subgroup_bpsn_bnsp_by_hand() -> None:
    # rows: (label, score, in subgroup)
    y = np.array([0, 0, 1, 1, 0, 0, 1, 1])
    s = np.array([0.6, 0.2, 0.7, 0.9, 0.1, 0.3, 0.5, 0.8])
    sub = np.array([True, True, True, True, False, False, False, False])
    # subgroup: neg {0.6, 0.2}, pos {0.7, 0.9}: all 4 pairs right
    assert subgroup_auc(y, s, sub) == 1.0
    # BPSN: subgroup negatives {0.6, 0.2} vs background positives {0.5, 0.8}: 0.5>0.2, 0.8>0.6, 0.8>0.2 -> 3/4
    assert bpsn_auc(y, s, sub) == pytest.approx(3 / 4)
    # BNSP: subgroup positives {0.7, 0.9} vs background negatives {0.1, 0.3}: 4/4
    assert bnsp_auc(y, s, sub) == 1.0


def test_power_mean_weighs_the_worst_subgroup() -> None:
    assert power_mean([0.5, 1.0], -5) == pytest.approx(((0.5**-5 + 1.0) / 2) ** (-1 / 5))
    assert power_mean([0.8, 0.8, 0.8], -5) == pytest.approx(0.8)
    assert power_mean([0.6, 0.9], -5) < np.mean([0.6, 0.9])
    assert power_mean([], -5) is None


def test_bias_metrics_final_score_is_the_jigsaw_formula(rng: np.random.Generator) -> None:
    n = 600
    y = rng.integers(0, 2, n).astype(float)
    s = np.clip(y * 0.4 + rng.random(n) * 0.6, 0, 1)
    groups = {"a": rng.random(n) < 0.3, "b": rng.random(n) < 0.3, "tiny": np.arange(n) < 3}
    s[groups["a"] & (y == 0)] += 0.3  # identity mentions push non-toxic rows up: BPSN(a) drops
    s = np.clip(s, 0, 1)
    m = bias_metrics(y, s, groups, power_mean_p=-5, overall_weight=0.25, min_subgroup_rows=10)

    assert m["subgroups"]["tiny"]["used"] is False
    assert m["subgroups_used"] == {"subgroup_auc": 2, "bpsn_auc": 2, "bnsp_auc": 2}
    assert m["subgroups"]["a"]["bpsn_auc"] < m["subgroups"]["b"]["bpsn_auc"]
    expected_bpsn = power_mean([m["subgroups"][g]["bpsn_auc"] for g in ("a", "b")], -5)
    assert m["power_mean_bpsn_auc"] == pytest.approx(expected_bpsn)
    means = [m["power_mean_subgroup_auc"], m["power_mean_bpsn_auc"], m["power_mean_bnsp_auc"]]
    assert m["final_score"] == pytest.approx(0.25 * roc_auc_score(y, s) + 0.75 * np.mean(means))


def test_identity_matcher_prefers_whole_words_and_longest_terms() -> None:
    matcher = IdentityMatcher(["african", "african american", "american", "old", "older", "gay"])
    assert matcher.last("Ling is a shitty african american") == "african american"
    assert matcher.find_all("Older editors and old-timers") == ["older"]
    assert matcher.find_all("The bold goldfish is gayety") == []
    assert matcher.find_all("Gay and African people") == ["gay", "african"]


needs_datasets = pytest.mark.skipif(
    not (datasets_dir() / "conversationai_bias_eval").is_dir(),
    reason=f"no bias datasets under {datasets_dir()}",
)


@needs_datasets
@pytest.mark.datasets
def test_bias_sets_load_with_every_identity(config: EvaluationConfig) -> None:
    templates, wiki = load_bias_sets(config.bias, datasets_dir())
    assert set(templates.subgroups) == set(config.bias.identity_terms)
    cap = config.bias.templates.max_rows_per_cell
    assert len(templates.texts) <= 5 * len(config.bias.identity_terms) * 2 * cap
    assert templates.y_true.mean() == pytest.approx(0.5)
    assert not any("machinist" in t for t in templates.texts)  # occupations template excluded
    assert len(wiki.texts) == 1492
    assert wiki.y_true.sum() == 248
    assert {"gay", "muslim", "jewish"} <= set(wiki.subgroups)


# ---------------------------------------------------------------- evaluation data


def test_csv_with_missing_label_columns_and_soft_values(tmp_path: Path) -> None:
    path = tmp_path / "eval.csv"
    path.write_text('text,toxicity,insult,corpus\n"you, idiot",1,0.75,a\nhello,0,,b\n', encoding="utf-8")
    data = load_eval_data(str(path), LABELS)
    assert data.texts == ["you, idiot", "hello"]
    tox, ins = LABELS.index("toxicity"), LABELS.index("insult")
    assert data.targets[:, tox].tolist() == [1.0, 0.0]
    assert data.targets[0, ins] == 0.75 and np.isnan(data.targets[1, ins])
    assert np.isnan(data.targets[:, LABELS.index("threat")]).all()
    assert data.corpora == ["a", "b"]
    assert data.annotated_counts()["insult"] == 1


def test_jsonl_in_the_moderator_label_format(tmp_path: Path) -> None:
    path = tmp_path / "labels.jsonl"
    rows = [
        {"id": "1", "text": "get lost", "labels": {"insult": 1, "toxicity": True}, "source": "moderator"},
        {"id": "2", "text": "nice point", "labels": {"insult": 0}, "source": "moderator"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    data = load_eval_data(str(path), LABELS)
    assert data.targets[:, LABELS.index("insult")].tolist() == [1.0, 0.0]
    assert data.targets[0, LABELS.index("toxicity")] == 1.0
    assert np.isnan(data.targets[1, LABELS.index("toxicity")])


def test_built_corpus_split(tmp_path: Path) -> None:
    from datasets import Dataset, DatasetDict, Features, Value

    features = Features({"id": Value("string"), "text": Value("string"), "corpus": Value("string")})
    for label in LABELS:
        features[label] = Value("float32")
    rows = {"id": ["a", "b", "c"], "text": ["x y", "idiot", "ok"], "corpus": ["c1", "c1", "c2"]}
    for label in LABELS:
        rows[label] = [None, None, None]
    rows["toxicity"] = [0.0, 1.0, 0.2]
    DatasetDict({"validation": Dataset.from_dict(rows, features=features)}).save_to_disk(
        str(tmp_path / "corpus")
    )

    data = load_eval_data(f"{tmp_path / 'corpus'}:validation", LABELS)
    assert data.texts == ["x y", "idiot", "ok"]
    assert data.corpus_counts() == {"c1": 2, "c2": 1}
    assert data.targets[:, LABELS.index("toxicity")].tolist() == pytest.approx([0.0, 1.0, 0.2])
    assert np.isnan(data.targets[:, LABELS.index("insult")]).all()
    with pytest.raises(EvalDataError, match="no split 'test'"):
        load_eval_data(f"{tmp_path / 'corpus'}:test", LABELS)
    with pytest.raises(EvalDataError, match="name a split"):
        load_eval_data(str(tmp_path / "corpus"), LABELS)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("no_text.csv", "comment,toxicity\nhi,1\n", "no 'text' column"),
        ("no_labels.csv", "text,stars\nhi,5\n", "none of the label columns"),
        ("range.csv", "text,toxicity\nhi,3\n", "outside"),
        ("words.csv", "text,toxicity\nhi,yes\n", "non-numeric"),
        ("empty_text.csv", 'text,toxicity\n"",1\n', "empty"),
        ("bad.jsonl", '{"text": "hi", "toxicity": 1}\nnot json\n', ":2: not valid JSON"),
        ("rows.txt", "hello\n", "unsupported file type"),
    ],
)
def test_bad_evaluation_files_give_clear_errors(
    tmp_path: Path, name: str, content: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(EvalDataError, match=message):
        load_eval_data(str(path), LABELS)


def test_missing_data_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(EvalDataError, match="not found"):
        load_eval_data(str(tmp_path / "nope.csv"), LABELS)


def test_sample_is_reproducible(tmp_path: Path) -> None:
    path = tmp_path / "eval.csv"
    path.write_text("text,toxicity\n" + "".join(f"t{i},{i % 2}\n" for i in range(50)), encoding="utf-8")
    data = load_eval_data(str(path), LABELS)
    a, b = data.sample(10), data.sample(10)
    assert a.texts == b.texts and len(a.texts) == 10
    assert data.sample(100) is data


# ---------------------------------------------------------------- baselines


def test_baseline_outputs_map_onto_labels() -> None:
    model = BaselineModelConfig(
        package="hatesonar",
        labels={
            "identity_attack": BaselineLabelMap(outputs=["hate_speech"], combine="max"),
            "toxicity": BaselineLabelMap(outputs=["hate_speech", "offensive_language"], combine="sum"),
        },
    )
    raw = [
        {"hate_speech": 0.1, "offensive_language": 0.7, "neither": 0.2},
        {"hate_speech": 0.6, "offensive_language": 0.5, "neither": 0.0},
    ]
    mapped = map_outputs(raw, model)
    assert mapped["identity_attack"].tolist() == [0.1, 0.6]
    assert mapped["toxicity"].tolist() == pytest.approx([0.8, 1.0])  # clipped at 1
    with pytest.raises(ValueError, match="lacks"):
        map_outputs([{"other": 1.0}], model)


def test_missing_baselines_venv_is_skipped_with_a_note(tmp_path: Path, config: EvaluationConfig) -> None:
    result = run_baseline("profanity_check", ["hello"], config.baselines, root=tmp_path)
    assert not result.ok
    assert "setup.sh" in result.notes[0]


needs_baselines_venv = pytest.mark.skipif(
    not (repo_root() / ".venv-baselines" / "bin" / "python").is_file(),
    reason="no .venv-baselines (run: bash benchmarks/baselines/setup.sh)",
)


@needs_baselines_venv
def test_profanity_check_runs_in_its_venv(config: EvaluationConfig) -> None:
    result = run_baseline(
        "profanity_check", ["what a fucking shitshow", "lovely weather today"], config.baselines
    )
    assert result.ok, result.notes
    assert result.version == "alt-profanity-check 1.9.1"
    profanity = result.scores["profanity"]
    assert profanity[0] > 0.9 > 0.1 > profanity[1]
    assert result.reference_labels == ["toxicity"]


@needs_baselines_venv
@pytest.mark.slow
def test_hatesonar_and_offensivetext_run_in_their_venv(config: EvaluationConfig) -> None:
    texts = ["you are a stupid worthless idiot", "thanks for the thoughtful article"]
    sonar = run_baseline("hatesonar", texts, config.baselines)
    assert sonar.ok, sonar.notes
    assert sonar.scores["toxicity"][0] > sonar.scores["toxicity"][1]
    offensive = run_baseline("offensivetext", texts, config.baselines)
    assert offensive.ok, offensive.notes
    assert set(offensive.scores) == {"identity_attack", "sexually_explicit", "harassment"}
    assert sum("RandomForestFilter" in note for note in offensive.notes) == 4


# ---------------------------------------------------------------- report


def test_report_renders_every_section(tmp_path: Path, rng: np.random.Generator) -> None:
    labels = ["toxicity", "insult"]
    targets = rng.integers(0, 2, (80, 2)).astype(float)
    scores = rng.random((80, 2))
    corpora = ["a"] * 40 + ["b"] * 40
    y, s = targets[:, 0], scores[:, 0]
    cases = [
        FunctionalCase(text="you idiot", label="insult", expect="high", suite="demo_suite"),
        FunctionalCase(text="nice work", label="insult", expect="low", suite="demo_suite"),
    ]
    report = {
        "created": "2026-11-22T00:00:00+00:00",
        "elapsed_seconds": 1.0,
        "model": {
            "ref": "demo@1.0.0",
            "labels": labels,
            "thresholds": {"toxicity": 0.5},
            "precision_target": 0.8,
        },
        "data": {
            "source": "demo.csv",
            "rows": 80,
            "annotated": {},
            "corpora": {"a": 40, "b": 40},
            "evaluated_labels": labels,
        },
        "settings": {"binarise_at": 0.5, "calibration_bins": 10},
        "ranking": {
            "per_label": ranking_metrics(targets, scores, labels, {"toxicity": 0.5}),
            "per_corpus": ranking_metrics_by_group(targets, scores, labels, corpora, {"toxicity": 0.5}),
        },
        "calibration": {
            label: calibration_metrics(targets[:, j], scores[:, j]) for j, label in enumerate(labels)
        },
        "plots": {"toxicity": "reliability_toxicity.png"},
        "baselines": [
            {
                "name": "profanity_check",
                "package": "alt-profanity-check",
                "version": "alt-profanity-check 1.9.1",
                "ok": True,
                "notes": [],
                "reference_labels": ["toxicity"],
                "ranking": ranking_metrics(targets[:, :1], scores[:, :1], ["toxicity"], {"toxicity": 0.5}),
                "calibration": {"toxicity": calibration_metrics(y, s)},
            },
            {
                "name": "offensivetext",
                "package": "offensivetext",
                "version": None,
                "ok": False,
                "notes": ["skipped: baselines venv not found"],
                "reference_labels": [],
                "ranking": {},
                "calibration": {},
            },
        ],
        "bias": {
            "label": "toxicity",
            "sets": {
                "templates": {
                    "note": "demo",
                    **bias_metrics(y, s, {"g": np.arange(80) < 30}),
                    "baselines": {"hatesonar": bias_metrics(y, 1 - s, {"g": np.arange(80) < 30})},
                }
            },
        },
        "functional": {
            **evaluate_functional(cases, [0.9, 0.1]),
            "baselines": {"hatesonar": evaluate_functional(cases, [0.2, 0.3])},
        },
    }
    json_path, md_path = write_report(report, tmp_path)
    assert json.loads(json_path.read_text())["model"]["ref"] == "demo@1.0.0"
    markdown = md_path.read_text()
    for heading in (
        "## Per label",
        "## Per corpus × label",
        "## Baselines side by side",
        "## Calibration",
        "## Identity bias",
        "## Functional suites",
    ):
        assert heading in markdown
    assert "| templates | hatesonar |" in markdown
    assert "| demo_suite | 100% / 100% (2) | 50% / 0% (2) |" in markdown
    assert "profanity_check (reference)" in markdown
    assert "**did not run**" in markdown and "skipped: baselines venv not found" in markdown
    assert markdown == render_markdown(report)


def test_config_file_is_valid(config: EvaluationConfig) -> None:
    assert config.bias.power_mean_p == -5
    assert set(config.baselines.models) == {"profanity_check", "hatesonar", "offensivetext"}
    for model in config.baselines.models.values():
        assert set(model.labels) <= set(LABELS)


# ---------------------------------------------------------------- policy outcomes

NAN = np.nan
POLICY_MODEL_LABELS = ["toxicity", "insult", "threat"]  # the model's order
POLICY_TARGET_LABELS = ["insult", "toxicity", "threat"]  # the data's order (differs on purpose)
# text, model scores (toxicity, insult, threat), targets (insult, toxicity, threat), corpus
POLICY_ROWS: list[tuple[str, tuple[float, float, float], tuple[float, float, float], str]] = [
    ("have a nice day", (0.1, 0.1, NAN), (0, 0, NAN), "a"),  # allow (NaN score: left out)
    ("you are an idiot", (0.2, 0.3, 0.0), (1, 0.2, NAN), "a"),  # review: suspect term only
    ("kys", (0.95, 0.5, 0.4), (NAN, 1, 1), "a"),  # reject: toxicity score and banned term
    ("rude remark", (0.6, 0.7, 0.0), (0.6, 0.4, 0), "b"),  # review: toxicity and insult scores
    ("fine comment", (0.3, 0.2, 0.1), (NAN, 1, 0), "b"),  # allow: a missed toxicity positive
    ("another one", (0.92, 0.1, 0.0), (0, 0, NAN), "c"),  # reject: toxicity score, a false reject
    ("good point", (0.1, 0.1, 0.1), (NAN, 0, NAN), "d"),  # allow
    ("you clown", (0.3, 0.4, 0.0), (1, 1, NAN), "d"),  # allow ("clown" is only a site's suspect term)
]


@pytest.fixture
def demo_policy() -> Policy:
    return Policy(
        PolicyConfig.model_validate(
            {
                "thresholds": {
                    "toxicity": {"review": 0.5, "reject": 0.9},
                    "insult": {"review": 0.6, "reject": None},
                    "threat": {"review": 0.3, "reject": 0.8},
                    "harassment": {"review": 0.4, "reject": 0.85},  # the model has no harassment head
                },
                "banned": ["kys"],
                "suspect": ["idiot"],
                "sites": {"strict": {"suspect": ["clown"]}},
            }
        )
    )


def _policy_outcomes(policy: Policy, **settings: Any) -> dict[str, Any]:
    return policy_outcomes(
        [text for text, *_ in POLICY_ROWS],
        np.array([scores for _, scores, _, _ in POLICY_ROWS], dtype=float),
        POLICY_MODEL_LABELS,
        np.array([targets for _, _, targets, _ in POLICY_ROWS], dtype=float),
        POLICY_TARGET_LABELS,
        [corpus for *_, corpus in POLICY_ROWS],
        policy,
        **{
            "reference_labels": ["toxicity", "insult", "threat", "harassment"],
            "min_corpus_rows": 2,
            **settings,
        },
    )


def test_policy_outcomes_by_hand(demo_policy: Policy) -> None:
    out = _policy_outcomes(demo_policy)
    overall = out["overall"]
    assert overall["rows"] == 8
    assert overall["counts"] == {"allow": 4, "review": 2, "reject": 2}
    assert (overall["allow"], overall["review"], overall["reject"], overall["held"]) == (0.5, 0.25, 0.25, 0.5)

    # toxicity, all 8 rows annotated; 0.2 and 0.4 are soft negatives. Positives: kys, fine comment,
    # you clown; held: idiot, kys, rude remark, another one.
    toxicity = overall["labels"]["toxicity"]
    assert (toxicity["rows"], toxicity["positives"], toxicity["held"]) == (8, 3, 4)
    assert toxicity["held_recall"] == pytest.approx(1 / 3)  # kys
    assert toxicity["reject_recall"] == pytest.approx(1 / 3)  # kys
    assert toxicity["false_hold_rate"] == pytest.approx(3 / 5)  # idiot, rude remark, another one
    assert toxicity["false_reject_rate"] == pytest.approx(1 / 5)  # another one
    assert toxicity["held_precision"] == pytest.approx(1 / 4)
    # insult, 5 annotated rows. Positives: idiot, rude remark (0.6), you clown; negatives: nice day,
    # another one.
    insult = overall["labels"]["insult"]
    assert (insult["rows"], insult["positives"]) == (5, 3)
    assert insult["held_recall"] == pytest.approx(2 / 3)
    assert insult["reject_recall"] == 0.0  # positives exist, none rejected: 0, not undefined
    assert insult["false_hold_rate"] == 0.5 and insult["false_reject_rate"] == 0.5
    assert insult["held_precision"] == pytest.approx(2 / 3)
    threat = overall["labels"]["threat"]
    assert (threat["rows"], threat["positives"], threat["held_recall"], threat["false_hold_rate"]) == (
        3,
        1,
        1.0,
        0.5,
    )
    assert (threat["false_reject_rate"], threat["held_precision"]) == (0.0, 0.5)
    # a reference label the data does not annotate: listed, every rate undefined
    harassment = overall["labels"]["harassment"]
    assert harassment["rows"] == 0
    assert all(
        harassment[key] is None
        for key in ("held_recall", "reject_recall", "false_hold_rate", "false_reject_rate", "held_precision")
    )

    # corpus c has 1 row (< min_corpus_rows): counted overall, not listed
    assert set(out["per_corpus"]) == {"a", "b", "d"}
    assert out["corpora_not_listed"] == {"c": 1}
    assert out["per_corpus"]["a"]["counts"] == {"allow": 1, "review": 1, "reject": 1}
    b, d = out["per_corpus"]["b"], out["per_corpus"]["d"]
    assert set(d["labels"]) == {"toxicity", "insult"}  # only what the corpus annotates
    # b, threat: no positives -> recall undefined; the held row is a negative -> precision 0
    assert b["labels"]["threat"]["held_recall"] is None and b["labels"]["threat"]["reject_recall"] is None
    assert b["labels"]["threat"]["false_hold_rate"] == 0.5 and b["labels"]["threat"]["held_precision"] == 0.0
    # d holds nothing: precision undefined, recall 0; d's only insult row is positive: no false-hold rate
    assert d["held"] == 0.0 and d["labels"]["toxicity"]["held_precision"] is None
    assert d["labels"]["toxicity"]["held_recall"] == 0.0 and d["labels"]["toxicity"]["false_hold_rate"] == 0.0
    assert (
        d["labels"]["insult"]["false_hold_rate"] is None and d["labels"]["insult"]["held_precision"] is None
    )

    decisions = out["decisions"]
    # rude remark and another one by scores, idiot by the word list, kys by both (reject from each)
    assert decisions["held_by"] == {"score": 2, "word_list": 1, "both": 1}
    assert decisions["reason_codes"] == {
        "score_reject": 2,
        "score_review": 2,
        "banned_term": 1,
        "suspect_term": 1,
    }
    # kys also reaches threat's review threshold, but its action is reject: threat did not set it
    assert decisions["score_labels"] == {"toxicity": 3, "insult": 1}
    assert decisions["terms"] == {"idiot": 1, "kys": 1}
    assert out["policy_labels_not_scored"] == ["harassment"]
    json.dumps(out)  # plain Python values only


def test_policy_outcomes_without_corpora_and_with_defaults(demo_policy: Policy) -> None:
    out = policy_outcomes(
        ["kys", "hello"],
        np.array([[0.1, 0.1, 0.1], [0.1, 0.1, 0.1]]),
        POLICY_MODEL_LABELS,
        np.array([[1.0], [0.0]]),
        ["toxicity"],
        None,
        demo_policy,
    )
    assert out["per_corpus"] == {} and out["corpora_not_listed"] == {}
    assert list(out["overall"]["labels"]) == ["toxicity", "insult", "threat", "harassment"]
    toxicity = out["overall"]["labels"]["toxicity"]
    assert (toxicity["held_recall"], toxicity["false_hold_rate"], toxicity["held_precision"]) == (
        1.0,
        0.0,
        1.0,
    )
    assert out["decisions"]["held_by"] == {"score": 0, "word_list": 1, "both": 0}


def test_policy_outcomes_reject_mismatched_shapes(demo_policy: Policy) -> None:
    scores, targets = np.zeros((2, 3)), np.zeros((2, 1))
    with pytest.raises(ValueError, match="probabilities"):
        policy_outcomes(["a", "b"], scores, ["toxicity"], targets, ["toxicity"], None, demo_policy)
    with pytest.raises(ValueError, match="targets"):
        policy_outcomes(
            ["a", "b"], scores, POLICY_MODEL_LABELS, targets, ["toxicity", "insult"], None, demo_policy
        )
    with pytest.raises(ValueError, match="corpus names"):
        policy_outcomes(["a", "b"], scores, POLICY_MODEL_LABELS, targets, ["toxicity"], ["x"], demo_policy)


def test_policy_evaluation_settings_are_validated(config: EvaluationConfig) -> None:
    assert config.policy.reference_labels == ["toxicity", "insult", "threat", "harassment"]
    assert config.policy.min_corpus_rows >= 1
    with pytest.raises(ValueError, match="unknown labels \\['toxicty'\\]"):
        PolicyOutcomesConfig(reference_labels=["toxicty"])
    with pytest.raises(ValueError, match="duplicates"):
        PolicyOutcomesConfig(reference_labels=["insult", "insult"])
    with pytest.raises(ValueError):
        PolicyOutcomesConfig(reference_labels=[])
    raw = config.model_dump()
    del raw["policy"]  # an older evaluation.yaml without the section still loads
    assert EvaluationConfig.model_validate(raw).policy == PolicyOutcomesConfig()


def _minimal_report(labels: list[str]) -> dict[str, Any]:
    return {
        "created": "2026-11-22T00:00:00+00:00",
        "model": {"ref": "demo@1.0.0", "labels": labels, "thresholds": {}, "precision_target": None},
        "data": {"source": "demo.csv", "rows": 8, "annotated": {}, "corpora": {}, "evaluated_labels": labels},
        "settings": {"binarise_at": 0.5, "calibration_bins": 10},
        "ranking": {"per_label": {}, "per_corpus": {}},
        "calibration": {},
        "plots": {},
    }


def test_report_renders_the_policy_section(tmp_path: Path, demo_policy: Policy) -> None:
    report = _minimal_report(POLICY_MODEL_LABELS)
    report["policy"] = {
        "source": "configs/policy.yaml",
        "config": demo_policy.config.model_dump(mode="json"),
        **_policy_outcomes(demo_policy),
    }
    json_path, md_path = write_report(report, tmp_path)
    assert json.loads(json_path.read_text())["policy"]["overall"]["counts"]["reject"] == 2
    markdown = md_path.read_text()
    assert markdown == render_markdown(report)
    assert "## Policy outcomes" in markdown
    assert "Policy `configs/policy.yaml` applied" in markdown
    assert "toxicity 0.50 / 0.90, insult 0.60 / –" in markdown
    assert "- word lists: 1 banned (reject), 1 suspect (review)" in markdown
    assert "does not score** (never trigger): harassment" in markdown
    assert "| **all** | 8 | 50.0% | 25.0% | 25.0% | 50.0% |" in markdown
    assert "| a | 3 | 33.3% | 33.3% | 33.3% | 66.7% |" in markdown
    assert "Not listed (fewer than 2 rows; counted in **all**): c (1)." in markdown
    assert "| toxicity | 8 | 3 | 33.3% | 33.3% | 60.0% | 20.0% | 25.0% |" in markdown
    assert "| harassment | 0 | 0 | – | – | – | – | – |" in markdown
    assert "| b | 0% / 100.0% (1/2) | 100% / – (1/1) | – / 50.0% (0/2) |  |" in markdown
    assert "| word lists only | 1 |" in markdown and "| both | 1 |" in markdown
    assert "- word-list terms matched: idiot 1, kys 1" in markdown
    assert "## Policy outcomes" not in render_markdown(_minimal_report(POLICY_MODEL_LABELS))


class _FixedScores:
    """A stand-in for Scorer: fixed scores per text, counting how often it is asked."""

    def __init__(self) -> None:
        self.calls = 0
        self._scores = {text: scores for text, scores, _, _ in POLICY_ROWS}

    @property
    def ref(self) -> str:
        return "fixed@1.0.0"

    @property
    def labels(self) -> list[str]:
        return POLICY_MODEL_LABELS

    @property
    def manifest(self) -> Any:
        from types import SimpleNamespace

        return SimpleNamespace(thresholds=dict.fromkeys(POLICY_MODEL_LABELS, 0.5), precision_target=None)

    def predict_proba(self, texts: Any) -> np.ndarray:
        self.calls += 1
        return np.nan_to_num(np.array([self._scores[t] for t in texts], dtype=float))


def test_policy_section_in_the_pipeline_reuses_the_scores(
    tmp_path: Path, demo_policy: Policy, config: EvaluationConfig
) -> None:
    from civility.training.evaluation.eval_data import EvalData

    targets = np.full((len(POLICY_ROWS), len(LABELS)), np.nan)
    for j, label in enumerate(POLICY_TARGET_LABELS):
        targets[:, LABELS.index(label)] = [t[j] for _, _, t, _ in POLICY_ROWS]
    data = EvalData("demo", [t for t, *_ in POLICY_ROWS], targets, LABELS, [c for *_, c in POLICY_ROWS])
    model = _FixedScores()
    settings = config.model_copy(update={"policy": PolicyOutcomesConfig(min_corpus_rows=2)})
    request = EvaluationRequest(
        data=data, out_dir=tmp_path, progress=False, policy=demo_policy, policy_source="demo.yaml"
    )
    report = run_evaluation(model, request, settings)  # type: ignore[arg-type]

    assert model.calls == 1  # one batch of 8 texts, scored once for ranking, calibration and the policy
    policy = report["policy"]
    assert policy["source"] == "demo.yaml" and policy["config"]["banned"] == ["kys"]
    assert policy["overall"]["counts"] == {"allow": 4, "review": 2, "reject": 2}
    assert policy["overall"]["labels"]["toxicity"]["false_reject_rate"] == pytest.approx(1 / 5)
    assert "## Policy outcomes" in (tmp_path / "report.md").read_text(encoding="utf-8")
    assert json.loads((tmp_path / "report.json").read_text())["policy"]["corpora_not_listed"] == {"c": 1}

    without = run_evaluation(
        model, EvaluationRequest(data=data, out_dir=tmp_path / "plain", progress=False), settings
    )  # type: ignore[arg-type]
    assert "policy" not in without


# ---------------------------------------------------------------- civility evaluate (CLI)


def _run_cli(*args: str) -> Any:
    from typer.testing import CliRunner

    from civility.cli import app

    return CliRunner().invoke(app, ["evaluate", *args])


def test_cli_bad_data_is_a_clear_error_not_a_traceback(tmp_path: Path) -> None:
    result = _run_cli(
        "civility-default", "--data", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "out")
    )
    assert result.exit_code == 2
    assert "evaluation data not found" in result.output
    assert "Traceback" not in result.output

    bad = tmp_path / "bad.csv"
    bad.write_text("text,toxicity\nhello,7\n", encoding="utf-8")
    result = _run_cli("civility-default", "--data", str(bad), "--out", str(tmp_path / "out"))
    assert result.exit_code == 2
    assert "outside [0, 1]" in result.output


def test_cli_invalid_config_is_a_clear_error(tmp_path: Path) -> None:
    config_path = tmp_path / "evaluation.yaml"
    config_path.write_text("binarise_at: 3\n", encoding="utf-8")
    data = tmp_path / "eval.csv"
    data.write_text("text,toxicity\nhello,0\n", encoding="utf-8")
    result = _run_cli(
        "civility-default", "--data", str(data), "--out", str(tmp_path), "--config", str(config_path)
    )
    assert result.exit_code == 2
    assert "invalid evaluation config" in result.output


def test_cli_unknown_model_is_a_clear_error(tmp_path: Path) -> None:
    data = tmp_path / "eval.csv"
    data.write_text("text,toxicity\nhello,0\n", encoding="utf-8")
    result = _run_cli("no-such-model@9.9.9", "--data", str(data), "--out", str(tmp_path / "out"))
    assert result.exit_code == 2
    assert "cannot load model 'no-such-model@9.9.9'" in result.output


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "policy file not found"),
        ("thresholds: {toxicty: {review: 0.5}}\n", "invalid policy"),
        ("thresholds: {toxicity: {review: 0.9, reject: 0.5}}\n", "must be >= review"),
        ("banned: ['   ']\n", "empty word-list entry"),
        ("thresholds: [unclosed\n", "cannot read policy"),
    ],
)
def test_cli_bad_policy_file_is_a_one_line_error(tmp_path: Path, content: str | None, message: str) -> None:
    data = tmp_path / "eval.csv"
    data.write_text("text,toxicity\nhello,0\n", encoding="utf-8")
    policy = tmp_path / "policy.yaml"
    if content is not None:
        policy.write_text(content, encoding="utf-8")
    result = _run_cli(
        "civility-default", "--data", str(data), "--out", str(tmp_path / "out"), "--policy-file", str(policy)
    )
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert result.output.startswith("civility evaluate: ") and result.output.count("\n") == 1
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists()  # failed before loading the model or scoring anything


def test_cli_policy_with_a_stand_in_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The --policy path of the CLI without a real bundle: Scorer.load returns the fixed-score stand-in."""
    from civility.model.scorer import Scorer

    model = _FixedScores()
    monkeypatch.setattr(Scorer, "load", classmethod(lambda cls, ref, **_: model))
    data = tmp_path / "eval.jsonl"
    data.write_text(
        "".join(
            json.dumps(
                {"text": text, "corpus": corpus}
                | {
                    label: None if np.isnan(v) else v
                    for label, v in zip(POLICY_TARGET_LABELS, targets, strict=True)
                }
            )
            + "\n"
            for text, _, targets, corpus in POLICY_ROWS
        ),
        encoding="utf-8",
    )
    out = tmp_path / "report"
    result = _run_cli("fixed", "--data", str(data), "--out", str(out), "--policy", "--quiet")
    assert result.exit_code == 0, result.output
    # the shipped policy (toxicity 0.50 / 0.92) gives the same actions as the demo policy here
    assert "policy  rows      8  allow 50.0%  review 25.0%  reject 25.0%" in result.output
    assert model.calls == 1
    policy = json.loads((out / "report.json").read_text(encoding="utf-8"))["policy"]
    assert policy["source"] == "configs/policy.yaml"
    assert policy["config"] == Policy.load().config.model_dump(mode="json")
    assert policy["decisions"]["terms"] == {"idiot": 1, "kys": 1}
    assert policy["per_corpus"] == {} and policy["corpora_not_listed"] == {"a": 3, "b": 2, "c": 1, "d": 2}
    assert "## Policy outcomes" in (out / "report.md").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def bundle_dir(request: pytest.FixtureRequest) -> Path:
    """The team's tiny real bundle (``dev_bundle`` in conftest.py)."""
    try:
        return Path(request.getfixturevalue("dev_bundle"))
    except pytest.FixtureLookupError:
        pytest.skip("no dev_bundle fixture in tests/conftest.py yet")


EVAL_ROWS = [
    ("You are a pathetic idiot and everyone here knows it.", 1, 1, "hand"),
    ("Shut up, moron, nobody asked for your stupid opinion.", 1, 1, "hand"),
    ("What a worthless piece of garbage you are.", 1, 1, "hand"),
    ("Go away you disgusting little troll.", 1, 1, "hand"),
    ("Thanks for the careful reporting on the school budget.", 0, 0, "hand"),
    ("The bus timetable changes on Monday, check the council site.", 0, 0, "hand"),
    ("I disagree with the mayor, but the article explains both sides well.", 0, 0, "hand"),
    ("Lovely photos of the harvest festival.", 0, 0, "hand"),
    ("Only an imbecile would believe this nonsense.", 1, 1, "other"),
    ("Great to see the library open on Sundays again.", 0, 0, "other"),
    ("You people are idiots, all of you.", 1, 1, "other"),
    ("Does anyone know when the road works finish?", 0, 0, "other"),
]


def write_eval_rows(path: Path) -> Path:
    """``EVAL_ROWS`` as an evaluation JSONL file (text, toxicity, insult, corpus)."""
    path.write_text(
        "".join(
            json.dumps({"text": t, "toxicity": tox, "insult": ins, "corpus": c}) + "\n"
            for t, tox, ins, c in EVAL_ROWS
        ),
        encoding="utf-8",
    )
    return path


@pytest.mark.slow
def test_cli_end_to_end_with_a_real_bundle(bundle_dir: Path, tmp_path: Path) -> None:
    data = write_eval_rows(tmp_path / "eval.jsonl")
    # a small bias configuration so the test stays quick: 2 sentences per template cell, 150 wiki comments
    raw = yaml.safe_load((repo_root() / "configs" / "evaluation.yaml").read_text(encoding="utf-8"))
    raw["bias"]["templates"]["max_rows_per_cell"] = 1
    raw["bias"]["wiki"]["max_rows"] = 150
    config_path = tmp_path / "evaluation.yaml"
    config_path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    out = tmp_path / "report"
    args = ["--data", str(data), "--out", str(out), "--functional", "--config", str(config_path), "--quiet"]
    if (datasets_dir() / "conversationai_bias_eval").is_dir():
        args.append("--bias")
    result = _run_cli(str(bundle_dir), *args)
    assert result.exit_code == 0, result.output

    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["data"]["evaluated_labels"] == ["toxicity", "insult"]
    toxicity = report["ranking"]["per_label"]["toxicity"]
    assert toxicity["rows"] == len(EVAL_ROWS) and toxicity["positives"] == 6
    assert 0.0 <= toxicity["roc_auc"] <= 1.0
    assert toxicity["tp"] + toxicity["fp"] + toxicity["tn"] + toxicity["fn"] == len(EVAL_ROWS)
    assert set(report["ranking"]["per_corpus"]) == {"hand", "other"}
    assert report["ranking"]["per_corpus"]["hand"]["toxicity"]["rows"] == 8
    assert report["model"]["thresholds"]["toxicity"] == toxicity["threshold"]
    assert set(report["functional"]["suites"]) == {
        p.stem for p in (repo_root() / "tests/data/functional").glob("*.jsonl")
    }
    if "--bias" in args:
        wiki = report["bias"]["sets"]["wiki_fuzzed"]
        assert wiki["rows"] == 150 and wiki["overall_auc"] is not None
    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert "## Per corpus × label" in markdown and "## Functional suites" in markdown
    for label in report["plots"].values():
        assert (out / label).read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_length_sorted_batches_keep_the_input_order(bundle_dir: Path) -> None:
    from civility.model.scorer import Scorer
    from civility.training.evaluation.pipeline import predict_in_batches

    # fp32: dynamic int8 quantisation scales activations per batch, so int8 scores shift slightly
    # with the batch's composition; fp32 scores do not.
    scorer = Scorer.load(str(bundle_dir), precision="fp32")
    texts = [t for t, *_ in EVAL_ROWS]
    batched = predict_in_batches(scorer, texts, batch_size=3, progress=False)
    np.testing.assert_allclose(batched, scorer.predict_proba(texts), atol=1e-4)


@pytest.mark.slow
def test_cli_policy_end_to_end_with_a_real_bundle(bundle_dir: Path, tmp_path: Path) -> None:
    data = write_eval_rows(tmp_path / "eval.jsonl")
    out = tmp_path / "report"
    result = _run_cli(str(bundle_dir), "--data", str(data), "--out", str(out), "--policy", "--quiet")
    assert result.exit_code == 0, result.output
    assert "policy  rows     12" in result.output

    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    policy = report["policy"]
    assert policy["source"] == "configs/policy.yaml"
    assert policy["config"] == Policy.load().config.model_dump(mode="json")
    overall = policy["overall"]
    assert overall["rows"] == len(EVAL_ROWS) and sum(overall["counts"].values()) == len(EVAL_ROWS)
    assert overall["labels"]["toxicity"]["rows"] == len(EVAL_ROWS)
    assert overall["labels"]["toxicity"]["positives"] == 6
    assert overall["labels"]["threat"]["rows"] == 0  # reference label the data does not annotate
    # two corpora of 8 and 4 rows, both under the shipped min_corpus_rows
    assert policy["per_corpus"] == {} and policy["corpora_not_listed"] == {"hand": 8, "other": 4}
    # "idiot" and "moron" are suspect terms in the shipped policy: held whatever the tiny model scores
    assert (
        policy["decisions"]["terms"].get("idiot", 0) >= 1 and policy["decisions"]["terms"].get("moron") == 1
    )
    assert "## Policy outcomes" in (out / "report.md").read_text(encoding="utf-8")

"""``civility build-data``: dedup across corpora, group splits, evaluation-only exclusion, output contract."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import typer
import yaml
from typer.testing import CliRunner

from civility.model.labels import label_ids
from civility.training.build_data import DataRecipe, assemble, build, load_recipe, register_build_data
from civility.training.corpora import MappingError, load_corpus, load_corpus_spec
from civility.training.corpora.mixing import assign_splits, cap_rows, dedup_key, deduplicate, priority_rank

SHARED_DATASETS = Path(os.environ.get("CIVILITY_DATASETS_DIR", "/work/shared/datasets"))


def write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)


def write_spec(specs: Path, name: str, **fields: Any) -> None:
    specs.mkdir(parents=True, exist_ok=True)
    body = {"name": name, "title": name, "license": f"{name}-licence", "domain": "news", "text": "text"}
    (specs / f"{name}.yaml").write_text(yaml.safe_dump(body | fields), encoding="utf-8")


def recipe(root: Path, **fields: Any) -> DataRecipe:
    base: dict[str, Any] = {
        "datasets_roots": [str(root)],
        "seed": 7,
        "min_chars": 2,
        "validation": 0.2,
        "test": 0.2,
        "corpora": [{"name": "news"}, {"name": "hate", "weight": 0.5}],
        "evaluation_only": ["bias"],
        "identity_terms": ["muslim", "women"],
    }
    return DataRecipe.model_validate(base | fields)


@pytest.fixture
def fixture_corpora(tmp_path: Path) -> tuple[Path, Path]:
    """Two small corpora sharing texts, plus an evaluation-only corpus, written to tmp."""
    root, specs = tmp_path / "datasets", tmp_path / "specs"
    news_rows: list[list[Any]] = [
        [f"thread{i % 40}", f"News comment number {i} about the budget", int(i % 7 == 0)] for i in range(200)
    ]
    news_rows += [
        ["threadX", "You are an IDIOT   https://example.com/x", 1],
        ["threadY", "Muslims are my neighbours", 0],
    ]
    news_rows += [["threadZ", "A sentence from the bias evaluation set", 0]]
    write_csv(root / "news" / "comments.csv", ["thread", "text", "toxic"], news_rows)
    write_csv(
        root / "news" / "official_test.csv",
        ["thread", "text", "toxic"],
        [["threadT", "an official test row", 1]],
    )
    write_spec(
        specs,
        "news",
        files=[{"path": "comments.csv"}, {"path": "official_test.csv", "split": "test"}],
        group="thread",
        labels={"toxicity": {"column": "toxic"}},
    )
    hate_rows = [[f"Hate corpus post {i}", int(i % 5 == 0)] for i in range(100)]
    hate_rows += [["you are an idiot", 0], ["@someone muslims are my neighbours", 0], ["women are great", 0]]
    write_csv(root / "hate" / "posts.csv", ["text", "hate"], hate_rows)
    write_spec(
        specs,
        "hate",
        domain="hate",
        files=[{"path": "posts.csv"}],
        labels={"identity_attack": {"column": "hate"}},
    )
    write_csv(
        root / "bias" / "templates.csv", ["text", "toxic"], [["a sentence from the bias evaluation set", 0]]
    )
    write_spec(
        specs,
        "bias",
        domain="evaluation",
        files=[{"path": "templates.csv"}],
        labels={"toxicity": {"column": "toxic"}},
    )
    return root, specs


def test_dedup_key_normalises_case_space_urls_and_mentions() -> None:
    assert dedup_key("You  are an IDIOT https://x.y/z") == dedup_key("@bob you are an idiot")
    assert dedup_key("https://only.url") == "https://only.url"


def test_dedup_averages_labels_where_both_annotate_and_keeps_missing() -> None:
    frame = pd.DataFrame(
        {
            "id": ["a:1", "b:1", "a:2"],
            "text": ["Same text", "same   TEXT", "other"],
            "corpus": ["a", "b", "a"],
            "group": ["a:g1", "b:g9", "a:g2"],
            "split_hint": ["auto", "test", "auto"],
            "toxicity": [1.0, 0.0, 0.0],
            "insult": [None, 0.5, None],
            "threat": [None, None, None],
        }
    )
    merged = deduplicate(frame, ["toxicity", "insult", "threat"]).set_index("id")
    assert list(merged.index) == ["a:1", "a:2"]
    assert merged.loc["a:1", "toxicity"] == 0.5
    assert merged.loc["a:1", "insult"] == 0.5
    assert pd.isna(merged.loc["a:1", "threat"])
    assert merged.loc["a:1", "split_hint"] == "test"  # an official test copy keeps the text in test
    assert merged.loc["a:1", "sources"] == "a,b" and merged.loc["a:1", "copies"] == 2


def test_assign_splits_keeps_groups_together_and_forces_official_splits() -> None:
    frame = pd.DataFrame(
        {
            "group": [f"c:g{i // 3}" for i in range(3000)],
            "corpus": "c",
            "split_hint": ["test" if i == 4 else "auto" for i in range(3000)],
        }
    )
    splits = assign_splits(frame, {"c": (0.2, 0.1)}, seed=1)
    assert (splits.groupby(frame["group"]).nunique() == 1).all()
    assert (splits[frame["group"] == "c:g1"] == "test").all()
    shares = splits.value_counts(normalize=True)
    assert 0.15 < shares["validation"] < 0.25 and 0.06 < shares["test"] < 0.14
    assert splits.equals(assign_splits(frame, {"c": (0.2, 0.1)}, seed=1))
    assert not splits.equals(assign_splits(frame, {"c": (0.2, 0.1)}, seed=2))


def test_cap_keeps_lower_rank_rows_first() -> None:
    frame = pd.DataFrame({"x": range(100)})
    rank = [0 if i % 10 == 0 else 2 for i in range(100)]
    kept = cap_rows(frame, 15, seed=3, rank=rank)
    assert len(kept) == 15 and set(range(0, 100, 10)) <= set(kept["x"])
    assert cap_rows(frame, None, seed=3) is frame


def test_capping_keeps_contrast_negatives_so_a_label_keeps_its_natural_rate() -> None:
    """Hateful tweets aimed at a group (harassment 0) must survive a cap next to those aimed at a person."""
    nan = float("nan")
    n_person, n_group, n_clean = 30, 60, 300
    frame = pd.DataFrame(
        {
            "identity_attack": [1.0] * (n_person + n_group) + [0.0] * n_clean,
            "harassment": [1.0] * n_person + [0.0] * n_group + [nan] * n_clean,
        }
    )
    rank = priority_rank(frame, ["harassment"], 0.5, contrast_labels=["harassment"])
    assert list(np.unique(rank[:n_person])) == [0]
    assert list(np.unique(rank[n_person : n_person + n_group])) == [1]
    assert list(np.unique(rank[n_person + n_group :])) == [3]
    kept = cap_rows(frame, 100, seed=3, rank=rank)
    assert (kept["harassment"] == 1.0).sum() == n_person and (kept["harassment"] == 0.0).sum() == n_group
    # Positives first only (the old order) would keep all 30 person-targeted rows but a random tenth of the
    # group-targeted ones: harassment would read "hateful" instead of "aimed at a person".
    skewed = cap_rows(frame, 100, seed=3, rank=priority_rank(frame, ["harassment"], 0.5))
    assert (skewed["harassment"] == 0.0).sum() < n_group // 2


def test_build_dedups_across_corpora_splits_by_group_and_excludes_evaluation(
    fixture_corpora: tuple[Path, Path], tmp_path: Path
) -> None:
    from datasets import load_from_disk

    root, specs = fixture_corpora
    result = build(recipe(root), root, tmp_path / "out", specs_dir=specs)
    dataset = load_from_disk(str(result.output))
    assert set(dataset) == {"train", "validation", "test"}
    expected = ["id", "text", "corpus", "group", "weight", *label_ids()]
    frames = {split: dataset[split].to_pandas() for split in dataset}
    for ds in dataset.values():
        assert ds.column_names == expected
        assert ds.features["weight"].dtype == "float32" and ds.features["toxicity"].dtype == "float32"
    everything = pd.concat(frames.values(), ignore_index=True)
    assert everything["id"].is_unique

    # dedup across corpora: the insult appears once, from the first corpus, with both corpora's labels
    idiot = everything[everything["text"].str.lower().str.contains("idiot")]
    assert len(idiot) == 1 and idiot["corpus"].iloc[0] == "news"
    assert idiot["toxicity"].iloc[0] == 1.0 and idiot["identity_attack"].iloc[0] == 0.0
    # missing stays missing: news does not annotate identity_attack, hate does not annotate toxicity
    hate_only = everything[everything["text"] == "Hate corpus post 1"]
    assert len(hate_only) == 1 and pd.isna(hate_only["toxicity"].iloc[0])
    assert (hate_only["weight"] == 0.5).all()

    # groups never straddle splits; the official test row stays in test
    groups = {split: set(frame["group"]) for split, frame in frames.items()}
    assert not groups["train"] & groups["validation"]
    assert not groups["train"] & groups["test"]
    assert not groups["validation"] & groups["test"]
    assert "an official test row" in set(frames["test"]["text"])

    # the evaluation-only corpus is in no split, and neither is a training text it contains
    assert "bias" not in set(everything["corpus"])
    assert not everything["text"].str.lower().str.contains("bias evaluation").any()

    stats = json.loads((result.output / "stats.json").read_text(encoding="utf-8"))
    sources = {source["name"]: source for source in stats["sources"]}
    assert set(sources) == {"news", "hate"}
    assert sources["hate"]["license"] == "hate-licence"
    assert sources["news"]["rows"] == int((everything["corpus"] == "news").sum())
    assert stats["corpora"]["hate"]["labels"] == ["identity_attack"]
    card = (result.output / "DATA_CARD.md").read_text(encoding="utf-8")
    assert (
        "hate-licence" in card and "Identity-term co-occurrence" in card and "bias: evaluation only" in card
    )


def test_recipe_rejects_evaluation_corpus_in_the_training_mix(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="evaluation-only"):
        recipe(tmp_path, corpora=[{"name": "bias"}])


def test_shipped_recipe_keeps_bias_eval_out_of_training() -> None:
    shipped = load_recipe()
    assert "conversationai_bias_eval" in shipped.evaluation_only
    assert "conversationai_bias_eval" not in {entry.name for entry in shipped.corpora}


def test_cli_reports_bad_input_without_traceback(tmp_path: Path) -> None:
    app = typer.Typer()
    register_build_data(app)
    app.command("noop")(lambda: None)
    bad = tmp_path / "bad.yaml"
    bad.write_text("corpora: []\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["build-data", "--config", str(bad)])
    assert result.exit_code == 2
    assert "invalid recipe" in result.output and "Traceback" not in result.output
    broken = tmp_path / "broken.yaml"  # a YAML syntax error, not just a schema error
    broken.write_text("caveats:\n  - whoTarget = 0 means: not a group: x\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["build-data", "--config", str(broken)])
    assert result.exit_code == 2
    assert "invalid recipe" in result.output and "line 2" in result.output
    with pytest.raises(MappingError, match="invalid mapping file"):
        load_corpus_spec(broken)
    missing = CliRunner().invoke(
        app, ["build-data", "--datasets", str(tmp_path / "nowhere"), "--corpus", "no_such_corpus"]
    )
    assert missing.exit_code == 2
    assert "datasets directory not found" in missing.output


@pytest.mark.datasets
@pytest.mark.skipif(not SHARED_DATASETS.is_dir(), reason=f"public corpora not found at {SHARED_DATASETS}")
def test_small_build_from_shared_datasets(tmp_path: Path) -> None:
    shipped = load_recipe()
    splits, stats = assemble(shipped, SHARED_DATASETS, max_rows_per_corpus=400)
    names = {entry.name for entry in shipped.corpora}
    for split, frame in splits.items():
        assert len(frame) > 0, split
        assert set(frame["corpus"]) <= names
        assert "conversationai_bias_eval" not in set(frame["corpus"])
        labels = frame[label_ids()]
        assert ((labels >= 0) & (labels <= 1) | labels.isna()).all().all()
    assert {"unhealthy_comments_ucc", "kaggle_insults_impermium", "toxic_spans"} <= set(
        splits["validation"]["corpus"]
    )
    assert {source["name"] for source in stats["sources"]} == names
    assert all(source["license"] for source in stats["sources"])
    # hate corpora never say a non-hateful insult is non-toxic: their toxicity is missing
    gab = splits["train"][splits["train"]["corpus"] == "gab_hate_corpus"]
    assert len(gab) > 0 and gab["toxicity"].isna().all() and gab["insult"].isna().all()
    assert (splits["train"]["threat"] >= 0.5).sum() > 50


@pytest.mark.slow
@pytest.mark.datasets
@pytest.mark.skipif(not SHARED_DATASETS.is_dir(), reason=f"public corpora not found at {SHARED_DATASETS}")
def test_default_recipe_meets_the_training_budget_and_validation_needs() -> None:
    shipped = load_recipe()
    splits, stats = assemble(shipped, SHARED_DATASETS)
    # The recipe trains a fixed 2,000 steps x 32 (64k examples) whatever the split's size, so this bounds
    # tokenising time and how much of the split a run sees, not the time budget.
    assert 70_000 <= len(splits["train"]) <= 100_000
    validation = splits["validation"]
    for corpus in ("unhealthy_comments_ucc", "kaggle_insults_impermium"):
        assert (validation["corpus"] == corpus).sum() >= 600, corpus
    assert (validation["threat"] >= 0.5).sum() >= 30
    assert (validation["harassment"] >= 0.5).sum() >= 30
    # news and discussion corpora lead the public-corpus mix; our own contrast templates stay a small part
    domains = {name: info["domain"] for name, info in stats["corpora"].items()}
    train_domains = splits["train"]["corpus"].map(domains)
    ours = splits["train"]["corpus"] == "civility_contrast"
    assert 0 < ours.mean() < 0.05
    assert train_domains[~ours].isin(["news", "discussion", "chatbot"]).mean() > 0.5
    evaluation = load_corpus(load_corpus_spec("conversationai_bias_eval"), SHARED_DATASETS)
    held_out = set(evaluation["text"].map(dedup_key))
    for split in ("train", "validation"):
        assert not splits[split]["text"].map(dedup_key).isin(held_out).any(), split


def test_implied_negatives_fill_only_unannotated_labels_of_clearly_clean_train_rows(
    fixture_corpora: tuple[Path, Path], tmp_path: Path
) -> None:
    from datasets import load_from_disk

    root, specs = fixture_corpora
    rule = {"source": "toxicity", "at_most": 0.1, "targets": ["identity_attack", "threat"]}
    result = build(recipe(root, implied_negatives=[rule]), root, tmp_path / "out", specs_dir=specs)
    dataset = load_from_disk(str(result.output))
    frames = {split: dataset[split].to_pandas() for split in dataset}

    train = frames["train"]
    clean = train[train["toxicity"] == 0.0]
    toxic = train[train["toxicity"] == 1.0]
    assert len(clean) and len(toxic)
    # a clearly non-toxic comment is not an identity attack or a threat...
    assert (clean["identity_attack"] == 0.0).all() and (clean["threat"] == 0.0).all()
    # ...a toxic one may be either, so it stays unannotated; labels outside the rule stay missing
    news_toxic = toxic[toxic["corpus"] == "news"]
    assert news_toxic["threat"].isna().all() and news_toxic["identity_attack"].isna().all()
    assert train["insult"].isna().all()
    # rows without a toxicity annotation are untouched (hate annotates identity_attack only)
    hate = train[train["corpus"] == "hate"]
    assert hate["threat"].isna().all() and hate["toxicity"].isna().all()
    # evaluation splits keep exactly what raters annotated
    for split in ("validation", "test"):
        news = frames[split][frames[split]["corpus"] == "news"]
        assert len(news) and news["threat"].isna().all()

    stats = json.loads((result.output / "stats.json").read_text(encoding="utf-8"))
    filled = stats["implied_negatives"]["filled_before_caps"]["train"]
    assert filled["threat"] == len(clean)


def test_identity_mentioning_clean_train_rows_are_upweighted(
    fixture_corpora: tuple[Path, Path], tmp_path: Path
) -> None:
    from datasets import load_from_disk

    root, specs = fixture_corpora
    recipe_ = recipe(root, identity_negative_weight=3.0, identity_negative_max=0.2)
    result = build(recipe_, root, tmp_path / "out", specs_dir=specs)
    dataset = load_from_disk(str(result.output))
    reweighted = 0
    for split in dataset:
        frame = dataset[split].to_pandas()
        base = frame["corpus"].map({"news": 1.0, "hate": 0.5})
        clean_mention = frame["text"].str.contains("(?i)muslim|women") & (frame["toxicity"] <= 0.2)
        expected = base.where(~(clean_mention & (split == "train")), base * 3.0)
        assert frame["weight"].tolist() == pytest.approx(expected.tolist()), split
        reweighted += int((clean_mention & (split == "train")).sum())
    # this seed puts the clean "Muslims are my neighbours" comment in train
    assert reweighted == 1
    stats = json.loads((result.output / "stats.json").read_text(encoding="utf-8"))
    assert stats["identity_negatives_reweighted"]["rows"] == 1


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"source": "toxicity", "at_most": 0.1, "targets": ["toxicity"]}, "cannot imply itself"),
        ({"source": "toxicity", "at_most": 0.1, "targets": ["no_such_label"]}, "unknown label"),
        ({"source": "toxicity", "at_most": 0.6, "targets": ["threat"]}, "less than 0.5"),
    ],
)
def test_recipe_rejects_bad_implied_negative_rules(
    tmp_path: Path, rule: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        recipe(tmp_path, implied_negatives=[rule])

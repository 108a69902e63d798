"""Mapping engine and special readers for the public corpora (fixtures written to tmp in each test)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from civility.model.labels import label_ids
from civility.training.corpora import CorpusSpec, LabelRule, MappingError, load_corpus, load_corpus_spec
from civility.training.corpora.readers import decode_python_escapes, fix_mac_roman_mojibake
from civility.training.corpora.rules import apply_rule
from civility.training.corpora.spec import corpora_config_dir


def write_csv(path: Path, header: list[str], rows: list[list[Any]], delimiter: str = ",") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def spec(**fields: Any) -> CorpusSpec:
    base: dict[str, Any] = {
        "name": "fixture",
        "title": "fixture",
        "license": "CC0",
        "domain": "news",
        "files": [{"path": "data.csv"}],
        "text": "text",
    }
    return CorpusSpec.model_validate(base | fields)


def is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


# --------------------------------------------------------------------------- rules


FRAME = pd.DataFrame(
    {
        "label": ["OAG", "CAG", "NAG", "???"],
        "flag": [1, 0, 1, None],
        "votes": [3, 1, 0, 2],
        "count": [3, 4, 3, 0],
        "conf": [0.9, 0.6, 1.0, 0.7],
        "score": [-0.5, 0.25, 0.9, 0.0],
    }
)


def test_value_map_leaves_unmapped_values_missing_not_zero() -> None:
    rule = LabelRule.model_validate({"column": "label", "value_map": {"OAG": 1.0, "NAG": 0.0}})
    out = apply_rule(FRAME, rule).tolist()
    assert out[0] == 1.0 and out[2] == 0.0
    assert is_missing(out[1]) and is_missing(out[3])


def test_value_map_with_default_and_integer_keys() -> None:
    rule = LabelRule.model_validate({"column": "flag", "value_map": {1: 1.0}, "default": 0.25})
    assert apply_rule(FRAME, rule).tolist() == [1.0, 0.25, 1.0, 0.25]


def test_fraction_of_votes_and_zero_denominator_is_missing() -> None:
    rule = LabelRule.model_validate({"column": "votes", "denominator": "count"})
    out = apply_rule(FRAME, rule).tolist()
    assert out[:3] == [1.0, 0.25, 0.0]
    assert is_missing(out[3])


def test_confidence_gives_soft_labels_both_ways() -> None:
    rule = LabelRule.model_validate({"column": "flag", "confidence": "conf"})
    out = apply_rule(FRAME, rule).tolist()
    assert out[0] == pytest.approx(0.9)
    assert out[1] == pytest.approx(0.4)  # label 0 with confidence 0.6 -> 0.4
    assert is_missing(out[3])


def test_rescale_threshold_and_invert() -> None:
    rescale = LabelRule.model_validate({"column": "score", "rescale": [0.0, 0.5]})
    assert apply_rule(FRAME, rescale).tolist() == [0.0, 0.5, 1.0, 0.0]
    threshold = LabelRule.model_validate({"column": "score", "threshold": 0.2, "invert": True})
    assert apply_rule(FRAME, threshold).tolist() == [1.0, 0.0, 0.0, 1.0]


def test_where_and_otherwise() -> None:
    rule = LabelRule.model_validate(
        {"column": "flag", "where": [{"column": "label", "values": ["OAG", "CAG"]}], "otherwise": 0.0}
    )
    assert apply_rule(FRAME, rule).tolist()[:3] == [1.0, 0.0, 0.0]
    missing = LabelRule.model_validate({"column": "flag", "where": [{"column": "votes", "min": 2}]})
    out = apply_rule(FRAME, missing).tolist()
    assert out[0] == 1.0 and is_missing(out[1]) and is_missing(out[2])


def test_cases_take_the_first_non_missing_value() -> None:
    rule = LabelRule.model_validate(
        {
            "cases": [
                {"column": "label", "value_map": {"OAG": 1.0}},
                {"column": "flag", "value_map": {0: 0.0}},
            ]
        }
    )
    out = apply_rule(FRAME, rule).tolist()
    assert out[0] == 1.0 and out[1] == 0.0
    assert is_missing(out[2]) and is_missing(out[3])


def test_values_outside_unit_interval_are_an_error() -> None:
    with pytest.raises(MappingError, match="outside"):
        apply_rule(FRAME, LabelRule.model_validate({"column": "votes"}))


def test_missing_column_is_a_clear_error() -> None:
    with pytest.raises(MappingError, match="column 'nope' not found"):
        apply_rule(FRAME, LabelRule.model_validate({"column": "nope"}))


def test_rule_validation() -> None:
    with pytest.raises(ValueError, match="at most one"):
        LabelRule.model_validate({"column": "a", "threshold": 0.5, "rescale": [0, 1]})
    with pytest.raises(ValueError, match="exactly one"):
        LabelRule.model_validate({"column": "a", "constant": 1.0})
    with pytest.raises(ValueError, match="unknown label"):
        spec(labels={"rudeness": {"column": "x"}})


# --------------------------------------------------------------------------- loading


def test_load_corpus_missing_vs_zero(tmp_path: Path) -> None:
    write_csv(
        tmp_path / "fixture" / "data.csv",
        ["text", "insult"],
        [["you idiot", 1], ["nice article", 0], ["   ", 1], ["unsure", ""]],
    )
    corpus = spec(
        labels={"insult": {"column": "insult"}, "toxicity": {"column": "insult", "value_map": {1: 1.0}}}
    )
    frame = load_corpus(corpus, tmp_path)
    # blank text and rows with no annotated label are dropped
    assert frame["text"].tolist() == ["you idiot", "nice article"]
    assert frame["insult"].tolist() == [1.0, 0.0]
    assert frame["toxicity"].iloc[0] == 1.0 and is_missing(frame["toxicity"].iloc[1])
    for label in set(label_ids()) - {"insult", "toxicity"}:
        assert frame[label].isna().all(), label
    assert frame["group"].str.startswith("fixture:").all()
    assert frame["id"].is_unique


def test_group_column_pattern_and_fallback(tmp_path: Path) -> None:
    write_csv(
        tmp_path / "fixture" / "data.csv",
        ["text", "file_id", "y"],
        [["a one", "100_1", 1], ["a two", "100_2", 0], ["b one", "", 0]],
    )
    corpus = spec(group="file_id", group_pattern=r"^(\d+)_", labels={"identity_attack": {"column": "y"}})
    groups = load_corpus(corpus, tmp_path)["group"].tolist()
    assert groups[0] == groups[1] == "fixture:100"
    assert groups[2] == "fixture:data:2"


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match="file not found"):
        load_corpus(spec(labels={"toxicity": {"column": "y"}}), tmp_path)


def test_kaggle_python_escapes() -> None:
    assert decode_python_escapes('"You fuck your dad."') == "You fuck your dad."
    assert decode_python_escapes('"a\\xc2\\xa0majority\\nof"') == "a\xa0majority\nof"
    assert decode_python_escapes('"your\\xa0hypocrisy"') == "your\xa0hypocrisy"
    assert decode_python_escapes('"C\\xe1c b\\u1ea1n"') == "Các bạn"


def test_kaggle_mapping_decodes_text_and_leaves_toxicity_missing_for_zero(tmp_path: Path) -> None:
    root = tmp_path / "datasets"
    folder = root / "kaggle_insults_impermium"
    write_csv(
        folder / "train.csv", ["Insult", "Date", "Comment"], [[1, "", '"You\\xa0idiot"'], [0, "", '"ok\\n"']]
    )
    write_csv(
        folder / "test_with_solutions.csv",
        ["Insult", "Date", "Comment", "Usage"],
        [[0, "", '"fine"', "PublicTest"]],
    )
    frame = load_corpus(load_corpus_spec("kaggle_insults_impermium"), root)
    assert frame["text"].tolist() == ["You\xa0idiot", "ok", "fine"]
    assert frame["insult"].tolist() == [1.0, 0.0, 0.0]
    assert frame["harassment"].tolist() == [1.0, 0.0, 0.0]
    assert frame["toxicity"].iloc[0] == 1.0 and frame["toxicity"].iloc[1:].isna().all()
    assert frame["profanity"].isna().all()
    assert frame["split_hint"].tolist() == ["auto", "auto", "test"]


def test_mac_roman_mojibake() -> None:
    assert fix_mac_roman_mojibake("don‚Äôt") == "don’t"
    assert fix_mac_roman_mojibake("plain text") == "plain text"
    assert fix_mac_roman_mojibake("café ☕") == "café ☕"


def test_toxic_spans_per_rater_aggregation(tmp_path: Path) -> None:
    root = tmp_path / "datasets"
    raw = root / "toxic_spans" / "acl2022_raw"
    write_csv(
        raw / "comments.csv", ["comment_id", "comment_text"], [[1, "you moron"], [2, "I will hurt you"]]
    )
    write_csv(
        raw / "annotations.csv",
        ["annotation", "comment_id", "worker", "country", "all toxic", "not toxic"],
        [
            [0, 1, 10, "USA", "False", "False"],
            [1, 1, 11, "USA", "False", "False"],
            [2, 1, 12, "USA", "False", "True"],
            [3, 2, 10, "USA", "False", "False"],
            [4, 2, 11, "USA", "True", "False"],
            [5, 2, 12, "USA", "False", "False"],
        ],
    )
    write_csv(
        raw / "spans.csv",
        ["annotation", "type", "start", "end"],
        [
            [0, "Insult", 4, 9],
            [0, "Insult", 0, 3],
            [1, "Insult", 4, 9],
            [3, "Threat", 2, 6],
            [4, "Threat", 2, 6],
        ],
    )
    write_csv(
        root / "toxic_spans" / "semeval2021" / "tsd_test.csv", ["spans", "text"], [["[]", "I will hurt you"]]
    )
    frame = load_corpus(load_corpus_spec("toxic_spans"), root).set_index("text")
    assert frame.loc["you moron", "toxicity"] == pytest.approx(2 / 3)
    assert frame.loc["you moron", "insult"] == pytest.approx(2 / 3)  # two raters, one counted once
    assert frame.loc["you moron", "threat"] == 0.0
    assert frame.loc["I will hurt you", "threat"] == pytest.approx(2 / 3)
    assert frame.loc["I will hurt you", "toxicity"] == 1.0
    assert frame.loc["I will hurt you", "split_hint"] == "test"
    assert frame.loc["you moron", "split_hint"] == "auto"
    assert frame["harassment"].isna().all()


def _convabuse_header(annotators: int) -> list[str]:
    fields = [
        "is_abuse.1", "is_abuse.0", "is_abuse.-1", "is_abuse.-2", "is_abuse.-3", "ableist", "homophobic",
        "intellectual", "racist", "sexist", "sex_harassment", "transphobic", "target.generalised",
        "target.individual", "target.system", "explicit", "implicit",
    ]  # fmt: skip
    header = ["example_id", "conv_id", "prev_agent", "prev_user", "agent", "user", "bot"]
    for i in range(1, annotators + 1):
        header += [f"Annotator{i}_{field}" for field in fields]
    header[-7] = "Annotator1_transphobic"  # the source misnumbers some headers
    return header


def test_convabuse_per_annotator_fractions(tmp_path: Path) -> None:
    root = tmp_path / "datasets"
    blank = [""] * 17
    not_abusive = [1, 0, 0, 0, 0] + [0] * 12
    strong_sexual = [*(0, 0, 0, 0, 1), *(0, 0, 0, 0, 0, 1, 0), *(0, 0, 0, 1, 0)]
    insulting_bot = [*(0, 0, 1, 0, 0), *(0, 0, 1, 0, 0, 0, 0), *(0, 0, 1, 1, 0)]
    rows = [
        [0, 7, "", "", "hi", "hello there", "ELIZA", *not_abusive, *not_abusive, *blank],
        [1, 7, "", "", "hi", "show me your body", "ELIZA", *strong_sexual, *not_abusive, *blank],
        [2, 8, "", "", "hi", "you are stupid", "ELIZA", *insulting_bot, *insulting_bot, *not_abusive],
    ]
    folder = root / "convabuse" / "2_splits"
    for name in ("ConvAbuseEMNLPtrain.csv", "ConvAbuseEMNLPvalid.csv", "ConvAbuseEMNLPtest.csv"):
        write_csv(folder / name, _convabuse_header(3), rows if "train" in name else rows[:1])
    frame = load_corpus(load_corpus_spec("convabuse"), root)
    train = frame[frame["id"].str.contains("train")].set_index("text")
    assert train.loc["hello there", "toxicity"] == 0.0
    assert train.loc["show me your body", "toxicity"] == 0.5
    assert train.loc["show me your body", "severe_toxicity"] == 0.5
    assert train.loc["show me your body", "sexually_explicit"] == 0.5
    assert train.loc["show me your body", "harassment"] == 0.5
    assert train.loc["you are stupid", "toxicity"] == pytest.approx(2 / 3)
    assert train.loc["you are stupid", "insult"] == pytest.approx(2 / 3)
    assert train.loc["you are stupid", "group"] == "convabuse:8"
    assert (frame[frame["id"].str.contains("test")]["split_hint"] == "test").all()


def test_olid_train_and_joined_test(tmp_path: Path) -> None:
    root = tmp_path / "datasets"
    folder = root / "olid"
    header = ["id", "tweet", "subtask_a", "subtask_b", "subtask_c"]
    write_csv(
        folder / "olid-training-v1.0.tsv",
        header,
        [
            [1, "@USER you are a clown", "OFF", "TIN", "IND"],
            [2, "what the hell", "OFF", "UNT", "NULL"],
            [3, "nice weather", "NOT", "NULL", "NULL"],
            [4, "they should all leave", "OFF", "TIN", "GRP"],
        ],
        delimiter="\t",
    )
    write_csv(folder / "testset-levela.tsv", ["id", "tweet"], [[9, "go away loser"], [10, "hello"]], "\t")
    write_csv(folder / "labels-levela.csv", ["id", "label"], [[9, "OFF"], [10, "NOT"]])
    write_csv(folder / "labels-levelb.csv", ["id", "label"], [[9, "TIN"]])
    write_csv(folder / "labels-levelc.csv", ["id", "label"], [[9, "IND"]])
    frame = load_corpus(load_corpus_spec("olid"), root).set_index("text")
    assert frame.loc["@USER you are a clown", ["toxicity", "insult", "harassment"]].tolist() == [
        1.0,
        1.0,
        1.0,
    ]
    assert is_missing(frame.loc["@USER you are a clown", "profanity"])
    assert frame.loc["what the hell", ["profanity", "insult", "harassment"]].tolist() == [1.0, 0.0, 0.0]
    assert (
        frame.loc["nice weather", ["toxicity", "profanity", "identity_attack", "harassment"]].tolist()
        == [0.0] * 4
    )
    assert frame.loc["they should all leave", "harassment"] == 0.0
    assert is_missing(frame.loc["they should all leave", "identity_attack"])  # GRP includes political groups
    assert frame.loc["go away loser", ["toxicity", "harassment", "split_hint"]].tolist() == [1.0, 1.0, "test"]
    assert frame.loc["hello", "toxicity"] == 0.0


def test_sbic_offensive_posts_leave_harassment_missing(tmp_path: Path) -> None:
    """SBIC's whoTarget = 0 means "not aimed at a group" (dark jokes, self-directed swearing), not "aimed at a
    person": offensive posts leave harassment missing; only inoffensive posts are known negatives."""
    root = tmp_path / "datasets"
    header = ["post", "whoTarget", "offensiveYN", "sexYN"]
    rows = [
        ["what do you call a joke about nothing", 0.0, 1.0, 0.0],
        ["all of them are vermin", 1.0, 1.0, 0.0],
        ["lovely day for a walk", "", 0.0, 0.0],
        ["half the raters found this rude", 0.0, 0.5, 0.0],
    ]
    write_csv(root / "sbic" / "SBIC.v2.agg.dev.csv", header, rows)
    write_csv(root / "sbic" / "SBIC.v2.agg.tst.csv", header, [["a test post", "", 0.0, 0.0]])
    frame = load_corpus(load_corpus_spec("sbic"), root).set_index("text")
    assert is_missing(frame.loc["what do you call a joke about nothing", "harassment"])
    assert frame.loc["what do you call a joke about nothing", "identity_attack"] == 0.0
    assert frame.loc["all of them are vermin", "identity_attack"] == 1.0
    assert is_missing(frame.loc["all of them are vermin", "harassment"])
    assert frame.loc["lovely day for a walk", ["toxicity", "harassment"]].tolist() == [0.0, 0.0]
    assert is_missing(frame.loc["half the raters found this rude", "harassment"])


def test_every_shipped_mapping_file_validates() -> None:
    names = sorted(path.stem for path in corpora_config_dir().glob("*.yaml"))
    assert "unhealthy_comments_ucc" in names and "conversationai_bias_eval" in names
    for name in names:
        corpus = load_corpus_spec(name)
        assert corpus.name == name
        for file in corpus.files:
            assert corpus.rules_for(file), f"{name}/{file.path} maps no label"


def test_invalid_mapping_file_is_reported_with_its_path(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump({"name": "broken", "files": []}), encoding="utf-8")
    with pytest.raises(MappingError, match=r"broken\.yaml"):
        load_corpus_spec(path)
    with pytest.raises(MappingError, match="no mapping file"):
        load_corpus_spec("no_such_corpus")


def test_join_overlays_corrected_labels(tmp_path: Path) -> None:
    root = tmp_path / "datasets"
    folder = root / "hateval2019_en"
    header = ["id", "text", "HS", "TR", "AG"]
    for name in ("hateval2019_en_train.csv", "hateval2019_en_dev.csv"):
        write_csv(folder / name, header, [[1, f"{name} tweet", 1, 1, 0]])
    write_csv(folder / "hateval2019_en_test.csv", header, [[7, "relabelled", 0, 0, 0], [8, "kept", 1, 0, 0]])
    write_csv(
        folder / "relabeled_sentropy" / "hateval2019_en_test_relabeled.csv",
        ["id", "HS", "TR", "AG", "HS_original"],
        [[7, 1, 0, 0, 0]],
    )
    frame = load_corpus(load_corpus_spec("hateval2019_en"), root).set_index("text")
    assert frame.loc["relabelled", "identity_attack"] == 1.0  # corrected by the relabel file
    assert frame.loc["kept", "identity_attack"] == 1.0  # no correction: original label
    assert frame.loc["relabelled", "harassment"] == 0.0  # TR only counts for hateful tweets
    assert frame.loc["hateval2019_en_train.csv tweet", "harassment"] == 1.0


def test_jsonl_nested_labels_and_bad_lines(tmp_path: Path) -> None:
    """Moderator exports (``GET /v1/export/labels``) have nested labels; absent keys stay missing."""
    folder = tmp_path / "fixture"
    folder.mkdir()
    lines = [
        {
            "id": "c1",
            "text": "you are a troll",
            "labels": {"insult": 1, "toxicity": 0.8},
            "source": "moderator",
        },
        {"id": "c2", "text": "thanks for the story", "labels": {"toxicity": 0}, "source": "moderator"},
    ]
    (folder / "labels.jsonl").write_text(
        "\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8"
    )
    corpus = spec(
        format="jsonl",
        files=[{"path": "labels.jsonl"}],
        id="id",
        labels={"toxicity": {"column": "labels.toxicity"}, "insult": {"column": "labels.insult"}},
    )
    frame = load_corpus(corpus, tmp_path).set_index("id")
    assert frame.loc["fixture:labels:c1", ["toxicity", "insult"]].tolist() == [0.8, 1.0]
    assert frame.loc["fixture:labels:c2", "toxicity"] == 0.0
    assert is_missing(frame.loc["fixture:labels:c2", "insult"])
    (folder / "labels.jsonl").write_text('{"text": "ok"}\nnot json\n', encoding="utf-8")
    with pytest.raises(MappingError, match=r"labels\.jsonl:2: invalid JSON"):
        load_corpus(corpus, tmp_path)


def test_saved_datasets_directory_with_its_own_splits(tmp_path: Path) -> None:
    from datasets import Dataset, DatasetDict

    DatasetDict(
        {
            "train": Dataset.from_dict({"text": ["a fine comment", "shut up"], "tox": [0.0, 1.0]}),
            "test": Dataset.from_dict({"text": ["held out"], "tox": [0.0]}),
        }
    ).save_to_disk(str(tmp_path / "fixture" / "saved"))
    corpus = spec(
        format="hf_disk",
        files=[{"path": "saved", "split_column": "split"}],
        labels={"toxicity": {"column": "tox"}},
    )
    frame = load_corpus(corpus, tmp_path).set_index("text")
    assert frame.loc["shut up", "toxicity"] == 1.0
    assert frame.loc["held out", "split_hint"] == "test"
    assert frame.loc["a fine comment", "split_hint"] == "train"


# --- hand-written contrast templates (configs/contrast/) -------------------------------------------


def write_templates(path: Path, data: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_templates_expand_to_distinct_fillings_with_family_labels(tmp_path: Path) -> None:
    from civility.training.corpora.templates import expand_template_file

    path = write_templates(
        tmp_path / "t.yaml",
        {
            "slots": {"who": ["the mayor", "Sarah", "Dave"], "what": ["late", "wrong"]},
            "families": [
                {"name": "pos", "labels": {"threat": 1, "toxicity": 0.9}, "templates": ["{who} is {what}."]},
                {"name": "neg", "labels": {"threat": 0}, "templates": ["No slots here.", "{who} waved."]},
            ],
        },
    )
    frame = expand_template_file(path, fillings_per_template=4, seed=1)
    pos = frame[frame["group"] == "t/pos/0"]
    assert len(pos) == 4 and pos["text"].is_unique  # 6 combinations, 4 sampled, none repeated
    assert all(text[0].isupper() for text in pos["text"])  # "the mayor ..." opens with a capital
    assert set(pos["threat"]) == {1.0} and set(pos["toxicity"]) == {0.9}
    neg = frame[frame["group"].str.startswith("t/neg/")]
    assert sorted(neg["text"]) == ["Dave waved.", "No slots here.", "Sarah waved.", "The mayor waved."]
    assert neg["toxicity"].isna().all()  # a label the family does not set is missing, not 0
    again = expand_template_file(path, fillings_per_template=4, seed=1)
    assert frame["text"].tolist() == again["text"].tolist()  # fixed seed, same rows


@pytest.mark.parametrize(
    ("family", "slots", "message"),
    [
        ({"name": "a", "labels": {"threat": 1}, "templates": ["{nobody} waves"]}, {}, "undefined slot"),
        ({"name": "a", "labels": {"menace": 1}, "templates": ["hi"]}, {}, "unknown label"),
        ({"name": "a", "labels": {"threat": 2}, "templates": ["hi"]}, {}, "less than or equal to 1"),
        ({"name": "a", "labels": {"threat": 1}, "templates": ["a { b"]}, {}, "brace"),
        ({"name": "a", "labels": {"threat": 1}, "templates": ["{x}"]}, {"x": []}, "without fillers"),
    ],
)
def test_invalid_template_files_are_clear_errors(
    tmp_path: Path, family: dict[str, Any], slots: dict[str, Any], message: str
) -> None:
    from civility.training.corpora.templates import expand_template_file

    path = write_templates(tmp_path / "bad.yaml", {"slots": slots, "families": [family]})
    with pytest.raises(MappingError, match=r"bad\.yaml") as info:
        expand_template_file(path, fillings_per_template=3, seed=0)
    assert message in str(info.value)


def test_shipped_contrast_corpus_loads_into_train_only_with_matched_negatives() -> None:
    """The contrast corpus ships in configs/ (no datasets needed); every label a file teaches as a
    positive also has a negative family in the same file (minimal pairs, not a keyword list)."""
    from civility.training.corpora.templates import load_template_file

    spec_ = load_corpus_spec("civility_contrast")
    frame = load_corpus(spec_, Path("/nonexistent-datasets-root"))
    assert len(frame) > 500
    assert set(frame["split_hint"]) == {"train"}
    assert frame["text"].str.contains(r"\{|\}").sum() == 0  # every slot filled
    files = sorted(spec_.base_dir(Path("/x")).glob("*.yaml"))
    assert len(files) >= 4
    for path in files:
        families = load_template_file(path).families
        for label in label_ids():
            values = [f.labels[label] for f in families if label in f.labels]
            if any(v >= 0.5 for v in values):
                assert any(v == 0 for v in values), f"{path.name}: {label} has positives but no negatives"

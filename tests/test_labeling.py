"""``civility label``: precedence, provenance, lexicons and patterns, cleanlab label issues."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from civility.cli import app
from civility.model.labels import label_ids
from civility.training.labeling.label_files import LabelRecord, read_label_file
from civility.training.labeling.matching import PhraseMatcher
from civility.training.labeling.settings import load_label_config, load_lexicon


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def matcher(source: str) -> PhraseMatcher:
    config = load_label_config()
    rule = config.weak.sources.rules()[source]
    return PhraseMatcher(source, load_lexicon(rule.file), config.matching)


COMMENTS = [
    {"id": "c1", "text": "You are an idiot and everyone here knows it.", "language": "en"},
    {"id": "c2", "text": "Someone should shoot them all, they deserve it.", "language": "en"},
    {"id": "c3", "text": "Thanks for the thoughtful reporting on the council vote.", "language": "en"},
    {"id": "c4", "text": "Du bist ein Idiot, you idiot.", "language": "de"},
]


@pytest.fixture
def comments(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "comments.jsonl", COMMENTS)


def run_label(tmp_path: Path, comments: Path, *extra: str) -> dict[str, LabelRecord]:
    out = tmp_path / "labelled.jsonl"
    code, output = invoke("label", str(comments), "--output", str(out), "--no-model", *extra)
    assert code == 0, output
    return {r.id: r for r in read_label_file(out, label_ids())}


def test_weak_labels_carry_per_label_provenance(tmp_path: Path, comments: Path) -> None:
    labelled = run_label(tmp_path, comments)
    insult = labelled["c1"]
    assert insult.labels == {"toxicity": 0.8, "insult": 0.9, "harassment": 0.8}
    assert insult.provenance == {label: "patterns:targeting" for label in insult.labels}
    assert insult.source == "weak"
    threat = labelled["c2"]
    assert threat.labels["threat"] == 0.9
    assert threat.provenance is not None and threat.provenance["threat"] == "patterns:threats"
    assert "c3" not in labelled  # no source has an opinion: nothing to write, nothing invented
    assert "c4" not in labelled  # not English: weak sources abstain


def test_hand_label_overrides_weak_label(tmp_path: Path, comments: Path) -> None:
    hand = write_jsonl(
        tmp_path / "hand.jsonl",
        [
            {
                "id": "c1",
                "text": COMMENTS[0]["text"],
                "labels": {"insult": 0, "harassment": 1},
                "source": "hand",
            }
        ],
    )
    labelled = run_label(tmp_path, comments, "--hand", str(hand))["c1"]
    assert labelled.labels["insult"] == 0.0 and labelled.labels["harassment"] == 1.0
    assert labelled.provenance is not None
    assert labelled.provenance["insult"] == "hand" and labelled.provenance["harassment"] == "hand"
    assert labelled.provenance["toxicity"] == "patterns:targeting"  # not hand-labelled: weak still fills it
    assert labelled.source == "mixed"


def test_moderator_overrides_hand_and_matches_by_text(tmp_path: Path, comments: Path) -> None:
    hand = write_jsonl(
        tmp_path / "hand.jsonl",
        [{"id": "c1", "text": COMMENTS[0]["text"], "labels": {"insult": 0, "toxicity": 0}}],
    )
    # Moderator decisions come from the service with its own ids: matched on the text.
    moderator = write_jsonl(
        tmp_path / "moderator.jsonl",
        [{"id": "svc-991", "text": "you are an IDIOT and everyone here  knows it.", "labels": {"insult": 1}}],
    )
    labelled = run_label(tmp_path, comments, "--hand", str(hand), "--moderator", str(moderator))["c1"]
    assert labelled.labels["insult"] == 1.0
    assert labelled.provenance is not None
    assert labelled.provenance["insult"] == "moderator"
    assert labelled.labels["toxicity"] == 0.0 and labelled.provenance["toxicity"] == "hand"


def test_human_labels_apply_even_where_weak_sources_abstain(tmp_path: Path, comments: Path) -> None:
    hand = write_jsonl(tmp_path / "hand.jsonl", [{"id": "c4", "text": "x", "labels": {"insult": 1}}])
    labelled = run_label(tmp_path, comments, "--hand", str(hand))
    assert labelled["c4"].labels == {"insult": 1.0}
    assert labelled["c4"].source == "hand"


def test_output_is_the_hand_label_format(tmp_path: Path, comments: Path) -> None:
    run_label(tmp_path, comments)
    lines = [
        json.loads(line) for line in (tmp_path / "labelled.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    for line in lines:
        assert {"id", "text", "labels", "source", "provenance"} <= set(line)
        assert set(line["labels"]) <= set(label_ids())
        assert set(line["provenance"]) == set(line["labels"])
        assert all(0.0 <= v <= 1.0 for v in line["labels"].values())


def test_output_is_accepted_by_the_trainer(tmp_path: Path, comments: Path) -> None:
    from civility.training.trainer_data import read_label_records, records_to_columns

    run_label(tmp_path, comments)
    records = read_label_records(tmp_path / "labelled.jsonl", label_ids())
    columns = records_to_columns(records, label_ids(), weight=1.0)
    row = columns["id"].index("c1")
    assert columns["insult"][row] == 0.9
    assert columns["threat"][row] is None  # no source spoke about it: masked, not 0


def test_missing_model_bundle_is_skipped_with_a_warning(tmp_path: Path, comments: Path) -> None:
    out = tmp_path / "labelled.jsonl"
    code, output = invoke("label", str(comments), "-o", str(out), "--model", str(tmp_path / "no-such-bundle"))
    assert code == 0, output
    assert "warning: model scores skipped" in output
    assert {r.id for r in read_label_file(out, label_ids())} == {"c1", "c2"}


def test_extracted_comments_keep_their_thread_as_context(tmp_path: Path) -> None:
    extracted = write_jsonl(
        tmp_path / "extracted.jsonl",
        [
            {
                "id": "p",
                "text": "The bus lane is a good idea.",
                "thread": {"url": "https://x.example/a", "title": "Bus"},
            },
            {
                "id": "r",
                "text": "You are a moron.",
                "thread": {"url": "https://x.example/a"},
                "parent_id": "p",
            },
        ],
    )
    labelled = run_label(tmp_path, extracted)
    assert labelled["r"].context == {
        "thread_url": "https://x.example/a",
        "parent_text": "The bus lane is a good idea.",
    }


@pytest.mark.parametrize(
    "text",
    [
        "I will find you.",
        "I'm going to kill you",
        "we will hunt you down",
        "Someone should shoot them.",
        "somebody needs to hang him",
        "I hope you die",
        "I WISH RUSSIA WOULD NUKE THE EU",
        "They deserve to be hanged.",
        "traitors like him should be lined up and shot",
        "you're going to be dead by friday",
        "I will k1ll you",
        "i  w i l l  kill you",
        "The drivers should have just ran them over.",
        "let's cut his head off",
    ],
)
def test_threat_patterns_fire(text: str) -> None:
    assert matcher("threat_patterns").fires(text)


@pytest.mark.parametrize(
    "text",
    [
        "I would never hurt you.",
        "I will not kill you, calm down.",
        "No one deserves to be hanged.",
        "He doesn't deserve to be shot for a tweet.",
        'He wrote "I will kill you" under my post and got banned, good.',
        "Quoting the troll: 'someone should shoot them' is sickening.",
        "I will destroy your argument with facts.",
        "The bill should be killed in committee.",
        "This film kills it.",
        "We will beat them at the polls and bury their party.",
    ],
)
def test_threat_patterns_stay_silent(text: str) -> None:
    assert not matcher("threat_patterns").fires(text)


@pytest.mark.parametrize(
    "text",
    [
        "You are an idiot.",
        "you're such a pathetic loser",
        "Shut up, you clown",
        "@mark you moron",
        "u r so stupid",
    ],
)
def test_targeting_patterns_fire(text: str) -> None:
    assert matcher("targeting_patterns").fires(text)


@pytest.mark.parametrize(
    "text",
    [
        "You are not an idiot, you just disagree.",
        "I never said you are an idiot.",
        "He called me 'you idiot' in the street.",
        "The minister's policy is idiotic.",
        "Thank you for the article.",
    ],
)
def test_targeting_patterns_stay_silent(text: str) -> None:
    assert not matcher("targeting_patterns").fires(text)


@pytest.mark.parametrize(
    "text", ["this is fucking brilliant", "what a sh1tty day", "f u c k this", "Bullshit."]
)
def test_profanity_lexicon_fires_even_on_obfuscation(text: str) -> None:
    assert matcher("profanity_lexicon").fires(text)


@pytest.mark.parametrize("text", ["Scunthorpe United won", "please assess the class", "a cocktail party"])
def test_profanity_lexicon_matches_whole_words_only(text: str) -> None:
    assert not matcher("profanity_lexicon").fires(text)


@pytest.mark.parametrize("text", ["All Muslims are vermin.", "immigrants are nothing but rats"])
def test_dehumanising_statements_fire(text: str) -> None:
    assert matcher("slur_lexicon").fires(text)


@pytest.mark.parametrize(
    "text",
    [
        "Muslims are my neighbours.",
        "Muslims are not vermin.",
        "Saying 'all Muslims are vermin' is disgusting.",
        "As a gay man I think the policy is fine.",
    ],
)
def test_identity_mentions_counter_speech_and_negation_stay_silent(text: str) -> None:
    assert not matcher("slur_lexicon").fires(text)


def planted_dataset(seed: int = 7) -> tuple[list[dict[str, Any]], list[dict[str, Any]], set[tuple[str, str]]]:
    """300 comments with two labels and a reasonable model's out-of-sample predictions
    (positives 0.55-0.99, negatives 0.01-0.45), with 12 given labels flipped on comments the
    model is sure about (the clear label errors cleanlab should list)."""
    rng = random.Random(seed)
    rows, scores, planted = [], [], set()
    for i in range(300):
        truth = {"toxicity": int(rng.random() < 0.3), "insult": int(rng.random() < 0.2)}
        predicted = {k: rng.uniform(0.55, 0.99) if v else rng.uniform(0.01, 0.45) for k, v in truth.items()}
        given: dict[str, float | None] = dict(truth)
        if i % 25 == 3:
            label = "toxicity" if i % 2 else "insult"
            given[label] = 1 - truth[label]
            predicted[label] = rng.uniform(0.93, 0.99) if truth[label] else rng.uniform(0.01, 0.07)
            planted.add((f"r{i}", label))
        if i % 10 == 0:
            given["insult"] = None  # this corpus row does not annotate insult
        labels = {k: v for k, v in given.items() if v is not None}
        rows.append({"id": f"r{i}", "text": f"comment number {i}", "labels": labels})
        scores.append({"id": f"r{i}", "scores": predicted})
    return rows, scores, planted


def test_find_issues_lists_planted_label_errors(tmp_path: Path) -> None:
    rows, scores, planted = planted_dataset()
    data = write_jsonl(tmp_path / "data.jsonl", rows)
    score_file = write_jsonl(tmp_path / "scores.jsonl", scores)
    report = tmp_path / "issues.jsonl"
    code, output = invoke("label", "--find-issues", str(data), "--scores", str(score_file), "-o", str(report))
    assert code == 0, output
    found = [json.loads(line) for line in report.read_text(encoding="utf-8").splitlines()]
    flagged = {(issue["id"], issue["label"]) for issue in found}
    assert len(flagged & planted) >= len(planted) - 1
    assert len(flagged - planted) <= 3
    assert [issue["rank"] for issue in found] == list(range(1, len(found) + 1))
    qualities = [issue["label_quality"] for issue in found]
    assert qualities == sorted(qualities)
    top = found[0]
    assert abs(top["given"] - top["predicted"]) > 0.5


def test_find_issues_on_a_datasets_directory_with_missing_labels(tmp_path: Path) -> None:
    from datasets import Dataset, DatasetDict

    rows, scores, planted = planted_dataset(seed=11)
    columns: dict[str, list[Any]] = {"id": [], "text": [], **{label: [] for label in label_ids()}}
    for row in rows:
        columns["id"].append(row["id"])
        columns["text"].append(row["text"])
        for label in label_ids():
            columns[label].append(row["labels"].get(label))
    half = len(rows) // 2
    train = Dataset.from_dict({k: v[:half] for k, v in columns.items()})
    test = Dataset.from_dict({k: v[half:] for k, v in columns.items()})
    DatasetDict({"train": train, "test": test}).save_to_disk(str(tmp_path / "corpus"))
    score_file = write_jsonl(tmp_path / "scores.jsonl", scores)
    report = tmp_path / "issues.jsonl"
    code, output = invoke(
        "label", "--find-issues", str(tmp_path / "corpus"), "--scores", str(score_file), "-o", str(report)
    )
    assert code == 0, output
    found = [json.loads(line) for line in report.read_text(encoding="utf-8").splitlines()]
    assert len({(i["id"], i["label"]) for i in found} & planted) >= len(planted) - 1
    assert {i["split"] for i in found} <= {"train", "test"}
    assert "threat: 0 rows" in output  # unannotated labels are skipped, not treated as 0


@pytest.mark.parametrize(
    ("rows", "args", "message"),
    [
        ([{"id": "a", "text": "hi", "labels": {"rudeness": 1}}], ["--hand"], "unknown labels ['rudeness']"),
        ([{"id": "a", "text": "hi", "labels": {"insult": 3}}], ["--hand"], "must be in [0, 1]"),
        ([{"id": "a", "labels": {"insult": 1}}], ["--moderator"], "text"),
    ],
)
def test_bad_label_files_give_clear_errors(
    tmp_path: Path, comments: Path, rows: list[dict[str, Any]], args: list[str], message: str
) -> None:
    bad = write_jsonl(tmp_path / "bad.jsonl", rows)
    code, output = invoke(
        "label", str(comments), "--no-model", "-o", str(tmp_path / "o.jsonl"), *args, str(bad)
    )
    assert code == 2
    assert message in output and "bad.jsonl:1" in output
    assert "Traceback" not in output
    assert not (tmp_path / "o.jsonl").exists()


def test_find_issues_without_scores_is_a_usage_error(tmp_path: Path, comments: Path) -> None:
    code, output = invoke("label", "--find-issues", str(comments))
    assert code == 2
    assert "--scores" in output


def test_invalid_utf8_comment_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "comments.jsonl"
    bad.write_bytes(b'{"id": "a", "text": "caf\xe9"}\n')
    code, output = invoke("label", str(bad), "--no-model")
    assert code == 2
    assert "comments.jsonl:1: not UTF-8" in output


@pytest.fixture(scope="module")
def default_model_ref() -> str:
    """The shipped default bundle (materialised on first use); skipped where none is installed."""
    from civility.model.bundle import BundleError
    from civility.model.scorer import Scorer

    try:
        return Scorer.load().ref
    except BundleError as exc:
        pytest.skip(f"no default model bundle: {exc}")


@pytest.mark.slow
def test_model_scores_are_a_weak_source_with_provenance(
    tmp_path: Path, comments: Path, default_model_ref: str
) -> None:
    out = tmp_path / "labelled.jsonl"
    code, output = invoke("label", str(comments), "-o", str(out), "--model", default_model_ref)
    assert code == 0, output
    labelled = {r.id: r for r in read_label_file(out, label_ids())}
    provenances = [p for r in labelled.values() for p in (r.provenance or {}).values()]
    assert any(p.startswith(f"model:{default_model_ref}") for p in provenances)
    assert any(
        p == f"model:{default_model_ref}+patterns:targeting" for p in labelled["c1"].provenance.values()
    )
    config = load_label_config()
    for record in labelled.values():
        for label, value in record.labels.items():
            assert value >= config.weak.positive_at or value <= config.weak.negative_at, (record.id, label)

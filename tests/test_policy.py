"""Policy: thresholds, per-site overrides, banned/suspect word lists after normalisation."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from civility.model.labels import label_ids
from civility.service.policy import Policy, PolicyConfig, PolicyError


def make_policy(**config: object) -> Policy:
    return Policy(PolicyConfig.model_validate(config))


LOW = dict.fromkeys(label_ids(), 0.01)


def test_shipped_policy_loads_and_covers_every_label() -> None:
    policy = Policy.load()
    assert set(policy.thresholds()) == set(label_ids())


def test_thresholds_decide_allow_review_reject() -> None:
    policy = make_policy(thresholds={"toxicity": {"review": 0.5, "reject": 0.9}})
    assert policy.decide({**LOW, "toxicity": 0.2}, "fine").action == "allow"
    review = policy.decide({**LOW, "toxicity": 0.6}, "meh")
    assert review.action == "review"
    assert [(r.code, r.label, r.threshold) for r in review.reasons] == [("score_review", "toxicity", 0.5)]
    reject = policy.decide({**LOW, "toxicity": 0.95}, "bad")
    assert reject.action == "reject"
    assert reject.reasons[0].code == "score_reject"
    assert reject.reasons[0].message == "toxicity score 0.95 >= reject threshold 0.90"


def test_null_reject_never_rejects_on_that_label() -> None:
    policy = make_policy(thresholds={"profanity": {"review": 0.7, "reject": None}})
    assert policy.decide({**LOW, "profanity": 0.999}, "fucking brilliant").action == "review"


def test_site_override_merges_per_label() -> None:
    policy = make_policy(
        thresholds={"toxicity": {"review": 0.5, "reject": 0.9}, "insult": {"review": 0.5, "reject": 0.9}},
        sites={"strict": {"thresholds": {"toxicity": {"review": 0.2}}, "suspect": ["clown"]}},
    )
    assert policy.thresholds("strict")["toxicity"].review == 0.2
    assert policy.thresholds("strict")["toxicity"].reject == 0.9
    assert policy.thresholds("strict")["insult"].review == 0.5
    assert policy.decide({**LOW, "toxicity": 0.3}, "x", site="strict").action == "review"
    assert policy.decide({**LOW, "toxicity": 0.3}, "x", site="other").action == "allow"
    assert policy.decide(LOW, "what a clown", site="strict").reasons[0].code == "suspect_term"
    assert policy.decide(LOW, "what a clown").action == "allow"


@pytest.mark.parametrize(
    "text",
    [
        "you are an idiot",
        "you are an IDIOT!",
        "you are an i d i o t",
        "you are an id\u200biot",  # zero-width space
        "you are an 1d10t",
        "you are an іdіot",  # Cyrillic і
    ],
)
def test_suspect_terms_match_through_obfuscation(text: str) -> None:
    decision = make_policy(suspect=["idiot"]).decide(LOW, text)
    assert decision.action == "review"
    reason = decision.reasons[0]
    assert reason.code == "suspect_term" and reason.term == "idiot"
    assert reason.begin is not None and reason.end is not None
    matched = text[reason.begin : reason.end]
    assert matched.replace(" ", "").replace("\u200b", "").lower() in {"idiot", "1d10t", "іdіot"}


@pytest.mark.parametrize("text", ["idiotic policy", "Idiotville is a town", "midiot"])
def test_terms_match_whole_words_only(text: str) -> None:
    assert make_policy(suspect=["idiot"]).decide(LOW, text).action == "allow"


def test_banned_phrase_rejects_and_beats_review() -> None:
    policy = make_policy(banned=["kill yourself"], suspect=["idiot"])
    decision = policy.decide(LOW, "idiot, just kill   yourself")
    assert decision.action == "reject"
    assert [r.code for r in decision.reasons] == ["banned_term", "suspect_term"]
    banned = decision.reasons[0]
    assert "idiot, just kill   yourself"[banned.begin : banned.end] == "kill   yourself"


def test_unknown_label_in_policy_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump({"thresholds": {"toxicty": {"review": 0.5}}}))
    with pytest.raises(PolicyError, match="unknown labels \\['toxicty'\\]"):
        Policy.load(path)


def test_reject_below_review_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump({"thresholds": {"toxicity": {"review": 0.8, "reject": 0.5}}}))
    with pytest.raises(PolicyError, match="must be >= review"):
        Policy.load(path)


def test_missing_policy_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="not found"):
        Policy.load(tmp_path / "nope.yaml")

"""The shipped default model on a real news comment thread (the RT seed page), end to end:
extraction -> scoring -> policy. These assert what the shipped default (civility-default 2.0.4)
measurably does; the model card lists what it misses (the sexual remark about Kallas scores 0.07 on
sexually_explicit, 1.9.0 0.01, far below the review bar)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from civility.model.scorer import Scorer
from civility.service.policy import Policy
from civility.training.extract.settings import load_sites
from civility.training.extract.text_thread import read_text_thread

SEEDS = Path(os.environ.get("CIVILITY_SEEDS_DIR", "/work/shared/seeds"))
RT_SEED = SEEDS / "003_c1c16df8d23e2ec4.txt"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not RT_SEED.is_file(), reason=f"seed pages not found in {SEEDS} (CIVILITY_SEEDS_DIR)"),
]

VIOLENT_WISH = "I WISH RUSSIA WOULD NUKE THE EU"
PLAIN_DISAGREEMENT = [
    "it is debatable whether Brussels has anything to offer to the world.",
    "Why should I read any article about her?",
    "No debate is necessary!",
]


@pytest.fixture(scope="module")
def thread() -> list[str]:
    comments = read_text_thread(RT_SEED.read_text(encoding="utf-8"), load_sites()).comments
    return [c.text for c in comments]


@pytest.fixture(scope="module")
def scorer() -> Scorer:
    return Scorer.load()  # the shipped default bundle


def test_the_violent_wish_is_the_threads_top_threat_and_goes_to_review(
    thread: list[str], scorer: Scorer
) -> None:
    results = scorer.score(thread)
    threat = {text: r.scores["threat"] for text, r in zip(thread, results, strict=True)}
    wish = next(t for t in thread if t.strip() == VIOLENT_WISH)
    assert max(threat, key=lambda t: threat[t]) == wish, threat
    decision = Policy.load().decide(results[thread.index(wish)].scores, wish)
    assert decision.action in {"review", "reject"}
    assert any(getattr(reason, "label", None) == "threat" for reason in decision.reasons), decision


def test_plain_political_disagreement_is_allowed(thread: list[str], scorer: Scorer) -> None:
    policy = Policy.load()
    for text in PLAIN_DISAGREEMENT:
        match = next(t for t in thread if t.strip().startswith(text[:30]))
        result = scorer.score([match])[0]
        assert policy.decide(result.scores, match).action == "allow", (match, result.scores)

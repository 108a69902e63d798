"""``POST /v1/comments``: scoring, policy, author history, idempotency, privacy, bad input, persistence."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from civility.model.labels import label_ids
from civility.service.moderation.submission import ACTION_TO_STATUS

ABUSIVE = "You are a worthless idiot and I will find you."
BENIGN = "Thanks for the thoughtful article about the new library."


def error_of(response: Any) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}, body
    return dict(body["error"])


def test_submission_is_scored_decided_stored_and_audited(
    queue_api_factory: Callable[..., Any], service_scorer_fp32: Any
) -> None:
    # fp32: a text's scores do not depend on what else is in its batch, so they compare exactly.
    queue_api = queue_api_factory(scorer=service_scorer_fp32)
    decision = queue_api.submit(text=ABUSIVE, client_id="abc-1")
    assert decision["stored"] is True and decision["replayed"] is False
    assert decision["model"] == service_scorer_fp32.ref
    assert list(decision["scores"]) == label_ids()
    [direct] = service_scorer_fp32.score([ABUSIVE])
    for label, score in direct.scores.items():
        assert decision["scores"][label] == pytest.approx(score, abs=1e-6)

    policy = queue_api.client.app.state.policy  # type: ignore[attr-defined]
    expected = policy.decide(direct.scores, ABUSIVE)
    assert decision["action"] == expected.action
    assert decision["status"] == ACTION_TO_STATUS[expected.action].value
    assert [r["code"] for r in decision["reasons"]] == [r.code for r in expected.reasons]

    stored = queue_api.comment(decision["id"])
    assert stored["client_id"] == "abc-1"
    assert stored["text"] == ABUSIVE
    assert stored["status"] == decision["status"]
    assert stored["model_version"] == service_scorer_fp32.ref
    assert stored["max_score"] == pytest.approx(max(decision["scores"].values()))
    [entry] = queue_api.audit(decision["id"])
    assert entry["action"] == "submit" and entry["actor"] == "system"
    assert entry["before"] is None and entry["after"]["status"] == decision["status"]


def test_banned_term_is_rejected_with_the_reason_and_its_offsets(queue_api: Any) -> None:
    text = "Nobody cares, kys."
    decision = queue_api.submit(text=text)
    assert decision["status"] == "rejected"
    [banned] = [r for r in decision["reasons"] if r["code"] == "banned_term"]
    assert text[banned["begin"] : banned["end"]] == "kys"


def test_same_payload_twice_returns_the_same_comment_and_decision(queue_api: Any) -> None:
    body = queue_api.payload(text=ABUSIVE)
    first = queue_api.client.post("/v1/comments", json=body, headers=queue_api.publisher)
    again = queue_api.client.post("/v1/comments", json=body, headers=queue_api.publisher)
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["replayed"] is True
    for key in ("id", "status", "action", "reasons", "scores", "model", "version"):
        assert again.json()[key] == first.json()[key]
    assert queue_api.queue(queue="all")["total"] == 1


def test_same_client_id_with_a_different_comment_is_a_conflict(queue_api: Any) -> None:
    body = queue_api.payload()
    assert queue_api.client.post("/v1/comments", json=body, headers=queue_api.publisher).status_code == 201
    changed = {**body, "text": "An edited comment"}
    response = queue_api.client.post("/v1/comments", json=changed, headers=queue_api.publisher)
    assert response.status_code == 409
    assert error_of(response)["code"] == "client_id_conflict"
    assert queue_api.queue(queue="all")["total"] == 1


def test_new_authors_first_comments_are_premoderated(
    queue_api_factory: Callable[..., Any],
    allow_all_policy: Path,
    moderation_config_file: Callable[..., Path],
) -> None:
    api = queue_api_factory(
        policy_file=allow_all_policy,
        moderation_file=moderation_config_file(premoderate_first=2, duplicate_window_hours=0),
    )
    statuses = [api.submit(author_id="newbie", text=f"Comment {i} on the budget.") for i in range(3)]
    assert [d["status"] for d in statuses] == ["pending", "pending", "approved"]
    assert [r["code"] for r in statuses[0]["reasons"]] == ["new_author"]
    assert statuses[2]["reasons"] == []


def test_held_comments_get_spans_that_point_into_the_text(
    queue_api_factory: Callable[..., Any], allow_all_policy: Path, moderation_config_file: Callable[..., Path]
) -> None:
    api = queue_api_factory(
        policy_file=allow_all_policy,
        moderation_file=moderation_config_file(spans={"min_score": 0.0}, premoderate_first=1),
    )
    text = "You pathetic idiot, nobody wants you here."
    held = api.submit(author_id="first-timer", text=text)
    approved = api.submit(author_id="first-timer", text="Second comment, published at once.")
    assert (held["status"], approved["status"]) == ("pending", "approved")
    spans = api.comment(held["id"])["spans"]
    assert spans and set(spans) <= set(label_ids())
    for label_spans in spans.values():
        for span in label_spans:
            assert 0 <= span["begin"] < span["end"] <= len(text)
            assert text[span["begin"] : span["end"]] == span["text"]
    assert api.comment(approved["id"])["spans"] is None
    assert api.comment(held["id"])["version"] == 1  # spans are not a moderation change


def test_identical_comment_posted_twice_is_held(
    queue_api_factory: Callable[..., Any],
    allow_all_policy: Path,
    moderation_config_file: Callable[..., Path],
) -> None:
    api = queue_api_factory(policy_file=allow_all_policy, moderation_file=moderation_config_file())
    first = api.submit(author_id="echo", text="Vote for the park!")
    second = api.submit(author_id="echo", text="  vote for the PARK!  ")
    other_author = api.submit(author_id="someone-else", text="Vote for the park!")
    assert first["status"] == "approved"
    assert second["status"] == "pending"
    assert [r["code"] for r in second["reasons"]] == ["repeat_post"]
    assert other_author["status"] == "approved"


def test_high_recent_rejection_rate_holds_the_next_comment(
    queue_api_factory: Callable[..., Any],
    allow_all_policy: Path,
    moderation_config_file: Callable[..., Path],
) -> None:
    api = queue_api_factory(
        policy_file=allow_all_policy,
        moderation_file=moderation_config_file(min_decided=3, max_rejection_rate=0.5),
    )
    ids = [api.submit(author_id="troll", text=f"Opinion {i}.")["id"] for i in range(3)]
    api.decide(ids[0], "reject", reason_code="abuse")
    api.decide(ids[1], "reject", reason_code="spam")
    held = api.submit(author_id="troll", text="Another opinion.")
    assert held["status"] == "pending"
    [reason] = held["reasons"]
    assert reason["code"] == "author_rejection_rate"
    assert reason["score"] == pytest.approx(2 / 3, abs=1e-3)
    assert api.submit(author_id="fresh", text="Another opinion.")["status"] == "approved"


def test_do_not_store_is_decided_but_never_stored(queue_api: Any) -> None:
    decision = queue_api.submit(text=ABUSIVE, do_not_store=True, expect=201)
    assert decision["stored"] is False and decision["id"] is None and decision["version"] is None
    assert decision["status"] in {"approved", "pending", "rejected"}
    assert queue_api.queue(queue="all")["total"] == 0


def test_privacy_mode_stores_nothing(queue_api_factory: Callable[..., Any]) -> None:
    api = queue_api_factory(privacy_mode=True)
    decision = api.submit(text=BENIGN)
    assert decision["stored"] is False
    assert api.queue(queue="all")["total"] == 0
    export = api.client.get("/v1/export/labels", headers=api.moderator)
    assert export.status_code == 200 and export.text == ""


def test_parent_comment_is_linked(queue_api: Any) -> None:
    parent = queue_api.submit(client_id="parent-1", text="The council should fund the library.")
    child = queue_api.submit(client_id="child-1", parent_id="parent-1", text="I agree with you.")
    assert queue_api.comment(child["id"])["parent_id"] == "parent-1"
    assert parent["id"] != child["id"]


BAD_COMMENTS: list[tuple[dict[str, Any], str]] = [
    ({"text": ""}, "empty_text"),
    ({"text": "   \n\t "}, "empty_text"),
    ({"text": "x" * 61}, "text_too_long"),
    ({"text": 42}, "invalid_request"),
    ({"text": None}, "invalid_request"),
    ({"client_id": ""}, "invalid_request"),
    ({"author_id": "a" * 201}, "invalid_request"),
    ({"created_at": "2026-11-20T10:00:00"}, "invalid_request"),
    ({"created_at": "yesterday"}, "invalid_request"),
    ({"story_url": "javascript:alert(1)"}, "invalid_request"),
    ({"text": "nul \u0000 byte"}, "invalid_request"),
    ({"unexpected": "field"}, "invalid_request"),
    ({"do_not_store": "maybe"}, "invalid_request"),
]


def test_bad_comments_get_a_clear_error_and_nothing_is_stored(queue_api_factory: Callable[..., Any]) -> None:
    api = queue_api_factory(max_text_chars=60)
    for change, code in BAD_COMMENTS:
        response = api.client.post("/v1/comments", json=api.payload(**change), headers=api.publisher)
        assert response.status_code == 422, (change, response.text)
        error = error_of(response)
        assert error["code"] == code, change
        assert error["message"], change
    assert api.queue(queue="all")["total"] == 0


def test_missing_fields_invalid_json_and_invalid_utf8(queue_api: Any) -> None:
    missing = queue_api.client.post("/v1/comments", json={"text": "hi"}, headers=queue_api.publisher)
    assert missing.status_code == 422
    fields = {tuple(e["loc"])[-1] for e in error_of(missing)["details"]["errors"]}
    assert {"client_id", "story_id", "author_id"} <= fields
    headers = {**queue_api.publisher, "Content-Type": "application/json"}
    broken = queue_api.client.post("/v1/comments", content=b'{"text": ', headers=headers)
    assert broken.status_code == 400 and error_of(broken)["code"] == "invalid_json"
    not_utf8 = queue_api.client.post("/v1/comments", content=b'{"text": "\xff\xfe"}', headers=headers)
    assert not_utf8.status_code == 400
    surrogate = json.dumps(queue_api.payload(text="lone \ud800 surrogate")).encode("ascii")
    lone = queue_api.client.post("/v1/comments", content=surrogate, headers=headers)
    assert lone.status_code == 422 and "Unicode" in error_of(lone)["message"]
    assert queue_api.queue(queue="all")["total"] == 0


def test_submitting_needs_a_key_and_reading_the_queue_needs_a_moderator(queue_api: Any) -> None:
    body = queue_api.payload()
    assert queue_api.client.post("/v1/comments", json=body).status_code == 401
    assert queue_api.client.post("/v1/comments", json=body, headers=queue_api.publisher).status_code == 201
    assert queue_api.client.get("/v1/queue", headers=queue_api.publisher).status_code == 403
    assert queue_api.client.get("/v1/comments/1", headers=queue_api.publisher).status_code == 403


def test_comments_and_decisions_survive_an_app_restart(
    tmp_path: Path, queue_api_factory: Callable[..., Any]
) -> None:
    url = f"sqlite:///{tmp_path / 'restart.db'}"
    before = queue_api_factory(database_url=url)
    body = before.payload(text=BENIGN, client_id="persist-1")
    decision = before.submit(**body)
    before.decide(decision["id"], "reject", reason_code="off_topic", explanation="not about the story")
    before.close()

    after = queue_api_factory(database_url=url)
    stored = after.comment(decision["id"])
    assert stored["status"] == "rejected" and stored["decision_reason"] == "off_topic"
    assert [e["action"] for e in after.audit(decision["id"])] == ["submit", "reject"]
    replay = after.client.post("/v1/comments", json=body, headers=after.publisher)
    assert replay.status_code == 200 and replay.json()["id"] == decision["id"]
    assert replay.json()["status"] == "rejected"

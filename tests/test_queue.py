"""Queue API: listing, filters, sort, pagination, reports, decisions, bulk, undo, author history, export."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from civility.model.labels import label_ids


def error_of(response: Any) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}, body
    return dict(body["error"])


@pytest.fixture
def api(queue_api_factory: Callable[..., Any], allow_all_policy: Path) -> Any:
    """Every comment starts approved (no thresholds, no word lists), so tests set the states they need."""
    return queue_api_factory(policy_file=allow_all_policy)


def test_queues_hold_what_their_names_say(api: Any) -> None:
    first = api.submit(text="A perfectly calm comment.")
    second = api.submit(text="Another calm comment.")
    third = api.submit(text="A third calm comment.")
    api.decide(second["id"], "reject", reason_code="spam")
    report = api.client.post(
        f"/v1/comments/{third['id']}/reports", json={"reason": "abuse"}, headers=api.publisher
    )
    assert report.status_code == 201, report.text

    def ids(queue: str) -> set[int]:
        return {item["id"] for item in api.queue(queue=queue)["items"]}

    assert ids("approved") == {first["id"], third["id"]}
    assert ids("rejected") == {second["id"]}
    assert ids("reported") == {third["id"]}
    assert ids("pending") == set()
    assert ids("all") == {first["id"], second["id"], third["id"]}
    counts = api.client.get("/v1/queue/counts", headers=api.moderator).json()
    assert counts == {"pending": 0, "reported": 1, "approved": 2, "rejected": 1, "all": 3}


def test_policy_holds_land_in_pending(queue_api: Any) -> None:
    held = queue_api.submit(text="What a moron, honestly.")  # a suspect term in configs/policy.yaml
    assert held["status"] in {"pending", "rejected"}
    queue = "pending" if held["status"] == "pending" else "rejected"
    assert held["id"] in {item["id"] for item in queue_api.queue(queue=queue)["items"]}


def test_filters_by_story_author_site_label_and_score(api: Any) -> None:
    a = api.submit(story_id="s-1", author_id="ann", site="east", text="First words here.")
    b = api.submit(story_id="s-2", author_id="bob", site="west", text="Second words here.")
    c = api.submit(story_id="s-1", author_id="bob", site="west", text="Third words here.")

    def ids(**params: Any) -> set[int]:
        return {item["id"] for item in api.queue(queue="all", **params)["items"]}

    assert ids(story_id="s-1") == {a["id"], c["id"]}
    assert ids(author_id="bob") == {b["id"], c["id"]}
    assert ids(site="east") == {a["id"]}
    assert ids(story_id="s-1", author_id="bob") == {c["id"]}

    scores = {d["id"]: d["scores"] for d in (a, b, c)}
    label = label_ids()[0]
    cut = sorted(s[label] for s in scores.values())[1]
    assert ids(label=label, min_score=cut) == {i for i, s in scores.items() if s[label] >= cut}
    assert ids(label=label, max_score=cut) == {i for i, s in scores.items() if s[label] <= cut}
    top = {i: max(s.values()) for i, s in scores.items()}
    assert ids(min_score=sorted(top.values())[1]) == {
        i for i, v in top.items() if v >= sorted(top.values())[1]
    }


def test_bad_filters_are_clear_errors(api: Any) -> None:
    for params, field in [
        ({"queue": "archive"}, "queue"),
        ({"sort": "random"}, "sort"),
        ({"label": "rudeness"}, "label"),
        ({"min_score": 2}, "min_score"),
        ({"min_score": 0.9, "max_score": 0.1}, "min_score"),
        ({"limit": 100000}, "limit"),
        ({"offset": -1}, "offset"),
        ({"story_id": "a\u0000b"}, "story_id"),
    ]:
        response = api.client.get("/v1/queue", params=params, headers=api.moderator)
        assert response.status_code == 422, (params, response.text)
        error = error_of(response)
        assert field in json.dumps(error), (params, error)


def test_sort_orders_and_pagination(api: Any) -> None:
    made = [api.submit(text=f"Comment {i} on the new bridge.") for i in range(5)]
    newest = api.queue(queue="all", sort="newest")["items"]
    assert [c["id"] for c in newest] == [d["id"] for d in reversed(made)]
    oldest = api.queue(queue="all", sort="oldest")["items"]
    assert [c["id"] for c in oldest] == [d["id"] for d in made]
    by_score = api.queue(queue="all", sort="score")["items"]
    assert [c["max_score"] for c in by_score] == sorted((c["max_score"] for c in by_score), reverse=True)

    seen: list[int] = []
    offset: int | None = 0
    while offset is not None:
        page = api.queue(queue="all", sort="oldest", limit=2, offset=offset)
        assert page["total"] == 5 and page["limit"] == 2
        seen += [c["id"] for c in page["items"]]
        offset = page["next_offset"]
    assert seen == [d["id"] for d in made]


def test_reports_raise_priority_and_a_decision_resolves_them(api: Any) -> None:
    quiet = api.submit(text="Nothing to see here.")
    loud = api.submit(text="Something readers dislike.")
    for reason in ("abuse", "harassment"):
        response = api.client.post(
            f"/v1/comments/{loud['id']}/reports",
            json={"reason": reason, "note": "rude"},
            headers=api.publisher,
        )
        assert response.status_code == 201
    assert response.json()["open_reports"] == 2 and response.json()["report_count"] == 2
    reported = api.comment(loud["id"])
    assert reported["priority"] == pytest.approx(reported["max_score"] + 2 * 0.5)
    assert api.queue(queue="all", sort="priority")["items"][0]["id"] == loud["id"]

    unknown = api.client.post(
        f"/v1/comments/{quiet['id']}/reports", json={"reason": "boring"}, headers=api.publisher
    )
    assert unknown.status_code == 422 and error_of(unknown)["code"] == "unknown_reason"
    missing = api.client.post("/v1/comments/99999/reports", json={"reason": "spam"}, headers=api.publisher)
    assert missing.status_code == 404 and error_of(missing)["code"] == "comment_not_found"

    api.decide(loud["id"], "approve")
    assert api.comment(loud["id"])["open_reports"] == 0
    assert api.queue(queue="reported")["total"] == 0
    undone = api.client.post(
        f"/v1/comments/{loud['id']}/undo",
        json={"version": api.comment(loud["id"])["version"]},
        headers=api.moderator,
    )
    assert undone.status_code == 200 and undone.json()["open_reports"] == 2
    assert api.queue(queue="reported")["total"] == 1


def test_decisions_validate_reasons_and_explanations(api: Any) -> None:
    comment = api.submit()
    cases = [
        ({"action": "reject"}, "invalid_input"),
        ({"action": "reject", "reason_code": "rudeness"}, "unknown_reason"),
        ({"action": "reject", "reason_code": "illegal"}, "invalid_input"),
        ({"action": "approve", "reason_code": "abuse"}, "invalid_input"),
        ({"action": "reject", "reason_code": "abuse", "labels": {"rudeness": 1}}, "invalid_request"),
        ({"action": "reject", "reason_code": "abuse", "labels": {"toxicity": 3}}, "invalid_request"),
        ({"action": "ban"}, "invalid_request"),
    ]
    for body, code in cases:
        response = api.client.post(
            f"/v1/comments/{comment['id']}/decision", json={"version": 1, **body}, headers=api.moderator
        )
        assert response.status_code == 422, (body, response.text)
        assert error_of(response)["code"] == code, body
    legal = api.decide(
        comment["id"], "reject", reason_code="illegal", explanation="Incites violence (criminal code s. 1)"
    )
    assert legal["status"] == "rejected" and legal["decision_reason"] == "illegal"
    missing = api.client.post(
        "/v1/comments/424242/decision", json={"action": "approve", "version": 1}, headers=api.moderator
    )
    assert missing.status_code == 404


def test_a_decision_on_a_stale_version_is_a_conflict_not_an_overwrite(api: Any) -> None:
    comment = api.submit()
    first = api.decide(comment["id"], "reject", version=1, reason_code="spam")
    assert first["version"] == 2
    stale = api.decide(comment["id"], "approve", version=1, expect=409)
    assert stale["error"]["code"] == "stale_version"
    assert stale["error"]["details"]["current_version"] == 2
    assert api.comment(comment["id"])["status"] == "rejected"
    assert [e["action"] for e in api.audit(comment["id"])] == ["submit", "reject"]


def test_undo_is_a_new_action_and_walks_back_through_decisions(api: Any) -> None:
    comment = api.submit()
    api.decide(comment["id"], "reject", reason_code="abuse", explanation="insult")
    api.decide(comment["id"], "approve", explanation="on reflection, fine")

    def undo(expect: int = 200) -> dict[str, Any]:
        version = api.comment(comment["id"])["version"]
        response = api.client.post(
            f"/v1/comments/{comment['id']}/undo", json={"version": version}, headers=api.moderator
        )
        assert response.status_code == expect, response.text
        return dict(response.json())

    after_first = undo()
    assert after_first["status"] == "rejected" and after_first["decision_reason"] == "abuse"
    after_second = undo()
    assert after_second["status"] == "approved" and after_second["moderated"] is False
    assert after_second["decided_by"] is None
    assert undo(expect=409)["error"]["code"] == "nothing_to_undo"
    trail = api.audit(comment["id"])
    assert [e["action"] for e in trail] == ["submit", "reject", "approve", "undo", "undo"]
    assert trail[3]["undoes_id"] == trail[2]["id"] and trail[4]["undoes_id"] == trail[1]["id"]
    assert api.comment(comment["id"])["version"] == 5


def test_bulk_decisions_apply_each_item_on_its_own(api: Any) -> None:
    made = [api.submit() for _ in range(4)]
    api.decide(made[3]["id"], "approve")  # now at version 2: the bulk request below is stale for it
    response = api.client.post(
        "/v1/decisions/bulk",
        json={
            "action": "reject",
            "reason_code": "spam",
            "explanation": "link farm",
            "items": [{"id": d["id"], "version": 1} for d in made] + [{"id": 99999, "version": 1}],
        },
        headers=api.moderator,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["applied"] == 3 and body["failed"] == 2
    results = {r["id"]: r for r in body["results"]}
    assert results[made[3]["id"]]["error"]["code"] == "stale_version"
    assert results[99999]["error"]["code"] == "comment_not_found"
    for d in made[:3]:
        assert results[d["id"]]["ok"] and results[d["id"]]["status"] == "rejected"
        assert [e["action"] for e in api.audit(d["id"])] == ["submit", "reject"]
    assert api.comment(made[3]["id"])["status"] == "approved"


def test_bulk_rejects_bad_requests_whole(api: Any, queue_api_factory: Callable[..., Any]) -> None:
    comment = api.submit()
    no_reason = api.client.post(
        "/v1/decisions/bulk",
        json={"action": "reject", "items": [{"id": comment["id"], "version": 1}]},
        headers=api.moderator,
    )
    assert no_reason.status_code == 422
    empty = api.client.post(
        "/v1/decisions/bulk", json={"action": "approve", "items": []}, headers=api.moderator
    )
    assert empty.status_code == 422
    too_many = api.client.post(
        "/v1/decisions/bulk",
        json={"action": "approve", "items": [{"id": i, "version": 1} for i in range(1, 502)]},
        headers=api.moderator,
    )
    assert too_many.status_code == 422 and error_of(too_many)["code"] == "too_many_items"
    assert api.comment(comment["id"])["version"] == 1


def test_author_history_counts_and_rejection_rate(api: Any) -> None:
    ids = [api.submit(author_id="carol", author_name="Carol", text=f"Point {i}.")["id"] for i in range(4)]
    api.decide(ids[0], "reject", reason_code="abuse")
    api.client.post(f"/v1/comments/{ids[1]}/reports", json={"reason": "spam"}, headers=api.publisher)
    response = api.client.get("/v1/authors/carol", headers=api.moderator)
    assert response.status_code == 200, response.text
    history = response.json()
    assert history["author_name"] == "Carol"
    assert (history["total"], history["approved"], history["rejected"], history["pending"]) == (4, 3, 1, 0)
    assert history["reports"] == 1
    assert history["rejection_rate"] == pytest.approx(0.25)
    assert [r["comment_id"] for r in history["recent"]] == list(reversed(ids))
    assert history["recent"][-1]["decided_by"] is not None
    unknown = api.client.get("/v1/authors/nobody", headers=api.moderator)
    assert unknown.status_code == 404 and error_of(unknown)["code"] == "author_not_found"


def _export(api: Any, **params: Any) -> list[dict[str, Any]]:
    response = api.client.get("/v1/export/labels", params=params, headers=api.moderator)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ndjson")
    return [json.loads(line) for line in response.text.splitlines()]


def test_label_export_maps_decisions_to_training_labels(api: Any) -> None:
    approved = api.submit(client_id="ok-1", text="Lovely photos of the harbour.")
    threat = api.submit(client_id="threat-1", text="Someone should hurt them.")
    corrected = api.submit(client_id="fix-1", text="You absolute clown.", parent_id="ok-1")
    spam = api.submit(client_id="spam-1", text="Buy cheap watches at example.com")
    undone = api.submit(client_id="undone-1", text="Changed my mind about this one.")
    untouched = api.submit(client_id="auto-1", text="Nobody decided on this.")

    api.decide(approved["id"], "approve")
    api.decide(threat["id"], "reject", reason_code="threat")
    api.decide(
        corrected["id"], "reject", reason_code="abuse", labels={"insult": 1, "harassment": 1, "toxicity": 0.6}
    )
    api.decide(spam["id"], "reject", reason_code="spam")
    api.decide(undone["id"], "reject", reason_code="abuse")
    api.client.post(f"/v1/comments/{undone['id']}/undo", json={"version": 2}, headers=api.moderator)
    assert untouched["status"] == "approved"

    records = {r["id"]: r for r in _export(api)}
    assert set(records) == {"civility:ok-1", "civility:threat-1", "civility:fix-1"}
    for record in records.values():
        assert set(record) <= {"id", "text", "labels", "source", "context"}
        assert record["source"] == "moderator"
    assert records["civility:ok-1"]["labels"] == dict.fromkeys(label_ids(), 0.0)
    assert records["civility:ok-1"]["text"] == "Lovely photos of the harbour."
    assert records["civility:threat-1"]["labels"] == {"toxicity": 1.0, "threat": 1.0}
    assert records["civility:fix-1"]["labels"] == {"toxicity": 0.6, "insult": 1.0, "harassment": 1.0}
    assert records["civility:fix-1"]["context"] == "Lovely photos of the harbour."


def test_label_export_filters_by_decision_time(api: Any) -> None:
    comment = api.submit()
    decided = api.decide(comment["id"], "approve")["decided_at"]
    assert len(_export(api, since=decided)) == 1
    assert _export(api, until=decided) == []
    assert len(_export(api, since="2000-01-01T00:00:00Z", until="2100-01-01T00:00:00+00:00")) == 1
    naive = api.client.get(
        "/v1/export/labels", params={"since": "2026-01-01T00:00:00"}, headers=api.moderator
    )
    assert naive.status_code == 422
    backwards = api.client.get(
        "/v1/export/labels",
        params={"since": "2027-01-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
        headers=api.moderator,
    )
    assert backwards.status_code == 422
    assert api.client.get("/v1/export/labels", headers=api.publisher).status_code == 403


def test_queue_command_line(
    tmp_path: Path, queue_api_factory: Callable[..., Any], allow_all_policy: Path
) -> None:
    from typer.testing import CliRunner

    from civility.cli import app as cli

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    api = queue_api_factory(database_url=url, policy_file=allow_all_policy)
    kept = api.submit(client_id="cli-1", text="Fine comment.")
    dropped = api.submit(client_id="cli-2", text="Spam spam spam.")
    api.close()
    runner = CliRunner()

    def run(*args: str, stdin: str | None = None) -> Any:
        return runner.invoke(cli, [*args, "--database-url", url], input=stdin)

    listed = run("queue", "list", "--queue", "all", "--json")
    assert listed.exit_code == 0, listed.output
    assert {json.loads(line)["client_id"] for line in listed.stdout.splitlines()} == {"cli-1", "cli-2"}
    decided = run("queue", "decide", str(dropped["id"]), "reject", "--version", "1", "--reason", "abuse")
    assert decided.exit_code == 0 and "rejected (version 2)" in decided.output
    stale = run("queue", "decide", str(kept["id"]), "approve", "--version", "7")
    assert stale.exit_code == 1 and "version" in stale.output
    shown = run("queue", "show", str(dropped["id"]))
    assert shown.exit_code == 0 and "cli (admin) reject: approved -> rejected [abuse]" in shown.output
    out = tmp_path / "labels.jsonl"
    exported = run("queue", "export-labels", "--out", str(out))
    assert exported.exit_code == 0
    [record] = [json.loads(line) for line in out.read_text().splitlines()]
    assert record["id"] == "civility:cli-2" and record["labels"] == {"toxicity": 1.0}
    assert run("queue", "list", "--queue", "nope").exit_code == 1
    added = run("queue", "add-user", "frank", "--password-stdin", stdin="a long password\n")
    assert added.exit_code == 0, added.output
    assert "frank" in run("queue", "users").output
    assert run("queue", "add-user", "frank", "--password-stdin", stdin="a long password\n").exit_code == 1
    assert run("queue", "disable-user", "frank").exit_code == 0
    assert "disabled" in run("queue", "users").output

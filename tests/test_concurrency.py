"""Nothing accepted is lost: many clients submitting and deciding at once against a live server,
on SQLite and on PostgreSQL. Every accepted comment is stored exactly once, every decision has its
audit row, and of two decisions made on the same version exactly one wins (the other gets 409)."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from civility.service.db.moderation import Comment, ModerationAction

pytestmark = pytest.mark.slow

COMMENTS = 48
WORKERS = 12


def _payload(n: int) -> dict[str, Any]:
    return {
        "client_id": f"race-{n}",
        "story_id": f"story-{n % 4}",
        "author_id": f"author-{n % 7}",
        "author_name": f"Author {n % 7}",
        "text": f"Comment {n}: the tram line should run later on weekends.",
        "created_at": "2026-11-21T08:00:00Z",
    }


def test_concurrent_submissions_and_decisions_lose_nothing(
    service_app_factory: Callable[..., Any],
    issue_key: Callable[..., str],
    live_server: Callable[..., Any],
    db_url: str,
) -> None:
    app = service_app_factory(database_url=db_url)
    with live_server(app) as live, httpx.Client(base_url=live.url, timeout=60) as client:
        publisher = {"X-API-Key": issue_key(app, "scorer")}
        moderators = [{"X-API-Key": issue_key(app, "moderator", name=f"mod-{i}")} for i in range(2)]
        # Every comment is sent twice, from different threads at about the same time.
        jobs = [n for n in range(COMMENTS) for _ in range(2)]
        random.Random(5).shuffle(jobs)

        def submit(n: int) -> tuple[int, int, dict[str, Any]]:
            response = client.post("/v1/comments", json=_payload(n), headers=publisher)
            return n, response.status_code, response.json()

        with ThreadPoolExecutor(WORKERS) as pool:
            answers = list(pool.map(submit, jobs))

        by_comment: dict[int, list[tuple[int, dict[str, Any]]]] = defaultdict(list)
        for n, status, body in answers:
            assert status in (200, 201), body
            by_comment[n].append((status, body))
        for n, pair in by_comment.items():
            assert sorted(status for status, _ in pair) == [200, 201], n
            assert len({body["id"] for _, body in pair}) == 1
            assert len({body["status"] for _, body in pair}) == 1
        ids = {n: pair[0][1]["id"] for n, pair in by_comment.items()}

        # Two moderators decide every comment at once, from the same version: one wins each time.
        # New comments keep arriving meanwhile.
        def decide(job: tuple[int, int]) -> tuple[int, int, int, dict[str, Any]]:
            comment_id, who = job
            body = (
                {"action": "approve", "version": 1}
                if who == 0
                else {"action": "reject", "version": 1, "reason_code": "spam"}
            )
            response = client.post(f"/v1/comments/{comment_id}/decision", json=body, headers=moderators[who])
            return comment_id, who, response.status_code, response.json()

        decision_jobs: list[Any] = [(cid, who) for cid in ids.values() for who in (0, 1)]
        late = list(range(COMMENTS, COMMENTS + 12))
        mixed: list[Any] = decision_jobs + [("late", n) for n in late]
        random.Random(11).shuffle(mixed)

        def run(job: Any) -> Any:
            if job[0] == "late":
                return ("late", *submit(job[1]))
            return ("decision", *decide(job))

        with ThreadPoolExecutor(WORKERS) as pool:
            results = list(pool.map(run, mixed))

        winners: dict[int, int] = {}
        outcomes: Counter[int] = Counter()
        for result in results:
            if result[0] == "late":
                _, n, status, body = result
                assert status == 201, body
                ids[n] = body["id"]
                continue
            _, comment_id, who, status, body = result
            outcomes[status] += 1
            if status == 200:
                assert comment_id not in winners, "two decisions on the same version both won"
                winners[comment_id] = who
                assert body["version"] == 2
            else:
                assert status == 409 and body["error"]["code"] == "stale_version", body
        assert outcomes == {200: COMMENTS, 409: COMMENTS}

        for comment_id, who in winners.items():
            stored = client.get(f"/v1/comments/{comment_id}", headers=moderators[0]).json()
            assert stored["status"] == ("approved" if who == 0 else "rejected")
            assert stored["decided_by"] == f"mod-{who}"
            trail = client.get(f"/v1/comments/{comment_id}/audit", headers=moderators[0]).json()
            assert [e["action"] for e in trail] == ["submit", "approve" if who == 0 else "reject"]

    engine = app.state.engine
    with Session(engine) as session:
        stored_ids = session.scalars(select(Comment.client_id)).all()
        assert sorted(stored_ids) == sorted(f"race-{n}" for n in range(COMMENTS + len(late)))
        submits = session.scalar(
            select(func.count()).select_from(ModerationAction).where(ModerationAction.action == "submit")
        )
        decisions = session.scalar(
            select(func.count())
            .select_from(ModerationAction)
            .where(ModerationAction.action.in_(["approve", "reject"]))
        )
    assert submits == COMMENTS + len(late)
    assert decisions == COMMENTS

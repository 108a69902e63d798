"""The audit trail (who, when, before, after, reason) and the moderation schema migration."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, inspect, select
from sqlalchemy.orm import Session

from civility.service.db import (
    Base,
    alembic_config,
    import_tables,
    make_engine,
    session_factory,
    upgrade_database,
)
from civility.service.db.keys import Role, create_key
from civility.service.db.moderation import ModerationAction
from civility.service.moderation.accounts import authenticate_password, create_account, hash_password
from civility.service.moderation.errors import InvalidInput

MODERATION_TABLES = {
    "comments",
    "comment_scores",
    "comment_reports",
    "moderation_actions",
    "moderator_accounts",
}


@pytest.fixture
def api(queue_api_factory: Callable[..., Any], allow_all_policy: Path) -> Any:
    return queue_api_factory(policy_file=allow_all_policy)


def test_every_action_is_recorded_with_who_when_before_after_and_reason(api: Any) -> None:
    comment = api.submit(text="Is this fine?")
    cid = comment["id"]
    api.client.post(
        f"/v1/comments/{cid}/reports",
        json={"reason": "abuse", "reporter_id": "reader-7"},
        headers=api.publisher,
    )
    api.decide(
        cid,
        "reject",
        reason_code="harassment",
        explanation="targets another reader",
        labels={"harassment": 1},
    )
    api.client.post(
        f"/v1/comments/{cid}/undo", json={"version": 2, "explanation": "misread"}, headers=api.moderator
    )
    api.decide(cid, "approve")

    trail = api.audit(cid)
    assert [e["action"] for e in trail] == ["submit", "report", "reject", "undo", "approve"]
    times = [datetime.fromisoformat(e["created_at"]) for e in trail]
    assert times == sorted(times)
    submit, report, reject, undo, approve = trail
    assert (submit["actor"], submit["actor_role"], submit["before"]) == ("system", "system", None)
    assert (report["actor"], report["actor_role"], report["reason_code"]) == ("reader-7", "reader", "abuse")
    assert report["after"]["open_reports"] == 1
    moderator_name = reject["actor"]
    assert moderator_name and reject["actor_role"] == "moderator"
    assert reject["before"]["status"] == "approved" and reject["after"]["status"] == "rejected"
    assert reject["reason_code"] == "harassment" and reject["explanation"] == "targets another reader"
    assert reject["labels"] == {"harassment": 1.0}
    assert reject["before"]["version"] == 1 and reject["after"]["version"] == 2
    assert undo["undoes_id"] == reject["id"] and undo["explanation"] == "misread"
    assert undo["before"]["status"] == "rejected" and undo["after"]["status"] == "approved"
    assert undo["after"]["open_reports"] == 1  # the report the rejection resolved is open again
    assert approve["after"]["decided_by"] == moderator_name and approve["after"]["version"] == 4


def test_audit_rows_are_never_rewritten(api: Any) -> None:
    cid = api.submit()["id"]
    api.decide(cid, "reject", reason_code="spam")
    before_undo = api.audit(cid)
    api.client.post(f"/v1/comments/{cid}/undo", json={"version": 2}, headers=api.moderator)
    after_undo = api.audit(cid)
    assert after_undo[: len(before_undo)] == before_undo
    assert len(after_undo) == len(before_undo) + 1


def test_audit_of_a_missing_comment_is_404_and_needs_a_moderator(api: Any) -> None:
    assert api.client.get("/v1/comments/777/audit", headers=api.moderator).status_code == 404
    cid = api.submit()["id"]
    assert api.client.get(f"/v1/comments/{cid}/audit", headers=api.publisher).status_code == 403
    assert api.client.get(f"/v1/comments/{cid}/audit").status_code == 401


def test_actions_are_written_in_the_same_transaction_as_the_change(api: Any) -> None:
    engine = api.client.app.state.engine  # type: ignore[attr-defined]
    ids = [api.submit()["id"] for _ in range(3)]
    for cid in ids:
        api.decide(cid, "approve")
    with Session(engine) as session:
        query = select(ModerationAction.action, func.count()).group_by(ModerationAction.action)
        kinds = {action: count for action, count in session.execute(query)}
    assert kinds == {"submit": 3, "approve": 3}


def test_migrations_build_exactly_the_tables_the_code_declares(db_url: str) -> None:
    upgrade_database(db_url)
    import_tables()
    engine = make_engine(db_url)
    try:
        with engine.connect() as connection:
            assert set(inspect(connection).get_table_names()) >= MODERATION_TABLES
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
        command.downgrade(alembic_config(db_url), "0001")
        with engine.connect() as connection:
            assert not MODERATION_TABLES & set(inspect(connection).get_table_names())
        upgrade_database(db_url)
    finally:
        engine.dispose()


def test_password_accounts_hash_and_verify(db_url: str) -> None:
    upgrade_database(db_url)
    engine = make_engine(db_url)
    try:
        with session_factory(engine)() as session:
            create_key(session, name="admin", role=Role.admin)
            account = create_account(
                session,
                username="dana",
                password="correct horse battery",
                role=Role.moderator,
                created_by="admin",
            )
            session.commit()
            assert account.active and account.role == "moderator"
            assert authenticate_password(session, "dana", "correct horse battery") is not None
            assert authenticate_password(session, "dana", "wrong password!!") is None
            assert authenticate_password(session, "nobody", "correct horse battery") is None
            with pytest.raises(InvalidInput):
                create_account(
                    session, username="eve", password="short", role=Role.moderator, created_by=None
                )
            with pytest.raises(InvalidInput):
                create_account(
                    session, username="x y", password="long enough pw", role=Role.moderator, created_by=None
                )
    finally:
        engine.dispose()
    first, second = hash_password("same password"), hash_password("same password")
    assert first != second and first.startswith("scrypt$") and "same password" not in first

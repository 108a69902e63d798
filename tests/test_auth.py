"""API keys, roles, auth-off mode, rate limits and the keys CLI, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import Request
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from civility.cli import app as cli_app
from civility.service.auth import Principal
from civility.service.db.keys import ApiKey, hash_token
from civility.service.deps import CurrentAdmin, CurrentModerator

SCORE = {"text": "Have a nice day"}


@pytest.fixture
def app(service_app_factory: Callable[..., Any], db_url: str) -> Any:
    app = service_app_factory(database_url=db_url)

    # Routes guarded by the higher roles (the queue uses the same dependencies).
    @app.get("/test/moderator")
    def moderator_only(principal: CurrentModerator) -> dict[str, Any]:
        return {"name": principal.name, "role": principal.role.name}

    @app.get("/test/admin")
    def admin_only(principal: CurrentAdmin) -> dict[str, Any]:
        return {"name": principal.name, "role": principal.role.name}

    return app


def test_every_way_of_sending_a_key(app: Any, issue_key: Callable[..., str]) -> None:
    with TestClient(app) as client:
        token = issue_key(app, "scorer")
        assert client.post("/v1/score", json=SCORE, headers={"X-API-Key": token}).status_code == 200
        assert (
            client.post("/v1/score", json=SCORE, headers={"Authorization": f"Bearer {token}"}).status_code
            == 200
        )
        assert client.post("/v1/score", json=SCORE, params={"key": token}).status_code == 200


def test_missing_wrong_and_revoked_keys(app: Any, issue_key: Callable[..., str]) -> None:
    with TestClient(app) as client:
        missing = client.post("/v1/score", json=SCORE)
        assert missing.status_code == 401
        assert missing.json()["error"]["code"] == "missing_api_key"
        assert missing.headers["www-authenticate"] == "Bearer"
        wrong = client.post("/v1/score", json=SCORE, headers={"X-API-Key": "cvl_not-a-key"})
        assert wrong.status_code == 401
        assert wrong.json()["error"]["code"] == "invalid_api_key"
        token = issue_key(app, "scorer")
        with app.state.session_factory() as session:
            key = session.scalar(select(ApiKey).where(ApiKey.token_hash == hash_token(token)))
            assert key is not None
            key_id = key.id
        from civility.service.db.keys import revoke_key

        with app.state.session_factory() as session:
            revoke_key(session, key_id)
            session.commit()
        revoked = client.post("/v1/score", json=SCORE, headers={"X-API-Key": token})
        assert revoked.status_code == 401


@pytest.mark.parametrize(
    ("role", "moderator", "admin"),
    [("scorer", 403, 403), ("moderator", 200, 403), ("admin", 200, 200)],
)
def test_roles_are_ordered(
    app: Any, issue_key: Callable[..., str], role: str, moderator: int, admin: int
) -> None:
    with TestClient(app) as client:
        client.headers["X-API-Key"] = issue_key(app, role)
        assert client.post("/v1/score", json=SCORE).status_code == 200
        assert client.get("/test/moderator").status_code == moderator
        response = client.get("/test/admin")
        assert response.status_code == admin
        if admin == 403:
            assert response.json()["error"] == {
                "code": "forbidden",
                "message": f"This needs the admin role; the key 'test-{role}' has {role}.",
                "details": {"required_role": "admin", "role": role},
            }


def test_health_and_docs_need_no_key(app: Any) -> None:
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        assert client.get("/openapi.json").status_code == 200
        assert client.get("/docs").status_code == 200
        assert client.get("/metrics").status_code == 401


def test_auth_off_admits_everyone_as_local_admin(
    service_app_factory: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    app = service_app_factory(auth_enabled=False)
    assert "AUTHENTICATION IS OFF" in caplog.text

    @app.get("/test/admin")
    def admin_only(principal: CurrentAdmin) -> dict[str, Any]:
        return {"name": principal.name, "role": principal.role.name}

    with TestClient(app) as client:
        assert client.post("/v1/score", json=SCORE).status_code == 200
        assert client.get("/test/admin").json() == {"name": "local (auth disabled)", "role": "admin"}


def _redis_reachable() -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


@pytest.mark.parametrize("storage", ["memory://", "redis://127.0.0.1:6379"])
def test_rate_limit_per_key(
    service_app_factory: Callable[..., Any], issue_key: Callable[..., str], storage: str
) -> None:
    if storage.startswith("redis") and not _redis_reachable():
        pytest.skip("Redis not reachable at 127.0.0.1:6379")
    namespace = f"test-{uuid.uuid4().hex}"  # runs never share windows
    app = service_app_factory(
        rate_limit="3/minute", rate_limit_storage=storage, rate_limit_namespace=namespace
    )
    with TestClient(app) as client:
        first, second = issue_key(app, name="first"), issue_key(app, name="second")
        codes = [
            client.post("/v1/score", json=SCORE, headers={"X-API-Key": first}).status_code for _ in range(4)
        ]
        assert codes == [200, 200, 200, 429]
        limited = client.post("/v1/score", json=SCORE, headers={"X-API-Key": first})
        assert limited.json()["error"]["code"] == "rate_limited"
        assert int(limited.headers["retry-after"]) >= 1
        assert client.post("/v1/score", json=SCORE, headers={"X-API-Key": second}).status_code == 200


def test_session_principal_from_web_login(app: Any) -> None:
    """The web login stores ``Principal.to_session()``; the same dependencies accept it."""
    from civility.service.db.keys import Role

    @app.get("/test/login")
    def login(request: Request) -> dict[str, str]:
        request.session["principal"] = Principal(key_id=None, name="alice", role=Role.moderator).to_session()
        return {"ok": "yes"}

    with TestClient(app) as client:
        assert client.get("/test/moderator").status_code == 401
        assert client.get("/test/login").status_code == 200
        assert client.get("/test/moderator").json() == {"name": "alice", "role": "moderator"}
        assert client.get("/test/admin").status_code == 403


def test_keys_cli_create_list_revoke(db_url: str) -> None:
    runner = CliRunner()
    created = runner.invoke(
        cli_app, ["keys", "create", "--name", "coral-prod", "--role", "moderator", "--database-url", db_url]
    )
    assert created.exit_code == 0, created.output
    token = created.output.strip().splitlines()[-1]
    assert re.fullmatch(r"cvl_[A-Za-z0-9_-]{40,}", token)
    key_id = int(re.search(r"created key (\d+)", created.output).group(1))  # type: ignore[union-attr]

    listed = runner.invoke(cli_app, ["keys", "list", "--database-url", db_url])
    assert listed.exit_code == 0
    assert "coral-prod" in listed.output and "moderator" in listed.output
    assert token not in listed.output

    from civility.service.db import make_engine, session_factory

    engine = make_engine(db_url)
    with session_factory(engine)() as session:
        stored = session.get(ApiKey, key_id)
        assert stored is not None
        assert stored.token_hash == hash_token(token)
        assert token not in repr(stored.__dict__)

    revoked = runner.invoke(cli_app, ["keys", "revoke", str(key_id), "--database-url", db_url])
    assert revoked.exit_code == 0
    assert "coral-prod" not in runner.invoke(cli_app, ["keys", "list", "--database-url", db_url]).output
    assert "revoked" in runner.invoke(cli_app, ["keys", "list", "--all", "--database-url", db_url]).output
    engine.dispose()


def test_keys_cli_refuses_bad_input(sqlite_url: str) -> None:
    runner = CliRunner()
    bad_role = runner.invoke(
        cli_app, ["keys", "create", "--name", "x", "--role", "root", "--database-url", sqlite_url]
    )
    assert bad_role.exit_code == 2
    assert "unknown role 'root'" in bad_role.output
    missing = runner.invoke(cli_app, ["keys", "revoke", "999", "--database-url", sqlite_url])
    assert missing.exit_code == 1
    assert "no API key with id 999" in missing.output
    assert "Traceback" not in bad_role.output + missing.output


def test_key_lookups_are_cached_for_the_configured_time(
    service_app_factory: Callable[..., Any], issue_key: Callable[..., str]
) -> None:
    import time

    from civility.service.db.keys import revoke_key

    app = service_app_factory(auth_cache_seconds=0.5)
    with TestClient(app) as client:
        token = issue_key(app)
        headers = {"X-API-Key": token}
        assert client.post("/v1/score", json=SCORE, headers=headers).status_code == 200
        with app.state.session_factory() as session:
            key = session.scalar(select(ApiKey).where(ApiKey.token_hash == hash_token(token)))
            assert key is not None
            revoke_key(session, key.id)
            session.commit()
        assert client.post("/v1/score", json=SCORE, headers=headers).status_code == 200  # cached
        time.sleep(0.6)
        assert client.post("/v1/score", json=SCORE, headers=headers).status_code == 401

"""Brute-force protection of ``POST /moderate/login``: failed attempts are limited per client address
and per submitted username, lockouts refuse even correct credentials, successes never count.

Real app, real SQLite database, real in-memory ``limits`` storage; clients at different addresses
are TestClients with a different ``client`` host."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from typing import Any

import pytest
from fastapi.testclient import TestClient

from civility.service.db.keys import Role
from civility.service.db.moderation import ModeratorAccount
from civility.service.moderation.accounts import create_account

PASSWORD = "a long passphrase"
WRONG = "not the passphrase"
ADDRESS_A = ("203.0.113.10", 50000)
ADDRESS_B = ("198.51.100.20", 50000)
LOCKOUT = "Too many failed sign-in attempts; try again in"


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


class Browser:
    """A client at one address; every attempt starts signed out, with a fresh CSRF token."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    def login(self, **fields: str) -> Any:
        self.client.cookies.clear()
        token = _csrf(self.client.get("/moderate/login").text)
        return self.client.post(
            "/moderate/login", data={"csrf_token": token, **fields}, follow_redirects=False
        )

    def password(self, username: str, password: str) -> Any:
        return self.login(username=username, password=password)


@pytest.fixture
def make_app(service_settings_factory: Callable[..., Any]) -> Callable[..., Any]:
    """The real app with small limits. Signing in needs no model, so none is loaded."""
    from civility.service.app import create_app

    def make(**overrides: Any) -> Any:
        overrides.setdefault("login_failures_per_address", "6/15 minutes")
        overrides.setdefault("login_failures_per_account", "3/15 minutes")
        return create_app(service_settings_factory(**overrides))

    return make


@pytest.fixture
def at(make_app: Callable[..., Any]) -> Iterator[Callable[..., Browser]]:
    """``at(app, address)`` -> a Browser on that app from that client address (lifespan run); the
    first one also creates two moderator accounts, erin and frank."""
    with ExitStack() as stack:
        started: set[int] = set()

        def browser(app: Any, address: tuple[str, int]) -> Browser:
            client = stack.enter_context(TestClient(app, client=address))
            if id(app) not in started:
                started.add(id(app))
                with app.state.session_factory() as session:
                    for name in ("erin", "frank"):
                        create_account(
                            session, username=name, password=PASSWORD, role=Role.moderator, created_by="test"
                        )
                    session.commit()
            return Browser(client)

        yield browser


def _last_login(app: Any, username: str) -> Any:
    with app.state.session_factory() as session:
        account = session.query(ModeratorAccount).filter_by(username=username).one()
        return account.last_login_at


def _assert_locked(response: Any, minutes: int) -> None:
    assert response.status_code == 429, response.text
    retry_after = int(response.headers["Retry-After"])
    assert (minutes - 1) * 60 < retry_after <= minutes * 60
    assert f"{LOCKOUT} {minutes} minutes." in response.text
    assert response.headers["Cache-Control"] == "no-store"


def test_failed_passwords_lock_the_account_from_every_address(
    make_app: Callable[..., Any], at: Callable[..., Browser], capsys: pytest.CaptureFixture[str]
) -> None:
    app = make_app()
    a, b = at(app, ADDRESS_A), at(app, ADDRESS_B)
    capsys.readouterr()
    for _ in range(3):
        assert a.password("erin", WRONG).status_code == 401
    log_lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if "login_lockout" in line]
    assert [(e["scope"], e["username"], e["address"]) for e in log_lines] == [
        ("account", "erin", ADDRESS_A[0])
    ]
    assert PASSWORD not in json.dumps(log_lines) and WRONG not in json.dumps(log_lines)

    _assert_locked(a.password("erin", PASSWORD), minutes=15)
    # A distributed attack gains nothing: the account is locked for every address, even with the
    # right password, and the credentials are not even checked (no login recorded).
    _assert_locked(b.password("erin", PASSWORD), minutes=15)
    _assert_locked(b.password("ERIN", WRONG), minutes=15)
    assert _last_login(app, "erin") is None

    # Other accounts are unaffected, from either address; refused attempts did not count either.
    assert b.password("frank", PASSWORD).status_code == 303
    assert a.password("frank", PASSWORD).status_code == 303
    assert a.password("frank", WRONG).status_code == 401

    key = {"X-API-Key": _scorer_key(app)}
    metrics = b.client.get("/metrics", headers=key).text
    assert 'civility_login_lockouts_total{scope="account"} 1.0' in metrics
    assert 'civility_login_lockouts_total{scope="address"}' not in metrics


def _scorer_key(app: Any) -> str:
    from civility.service.db.keys import create_key

    with app.state.session_factory() as session:
        issued = create_key(session, name="metrics", role=Role.scorer)
        session.commit()
        return issued.token


def _moderator_key(app: Any) -> str:
    from civility.service.db.keys import create_key

    with app.state.session_factory() as session:
        issued = create_key(session, name="moderator", role=Role.moderator)
        session.commit()
        return issued.token


def test_failures_from_one_address_lock_that_address_only(
    make_app: Callable[..., Any], at: Callable[..., Browser]
) -> None:
    app = make_app()
    a, b = at(app, ADDRESS_A), at(app, ADDRESS_B)
    moderator_key = _moderator_key(app)
    # Six failures, spread over usernames and API keys so that no account reaches its own limit.
    for username in ("u1", "u2", "u3", "u4"):
        assert a.password(username, WRONG).status_code == 401
    assert a.login(api_key="cvl_wrong").status_code == 401
    assert a.login(api_key=_scorer_key(app)).status_code == 403  # a valid key without the role fails too
    _assert_locked(a.login(api_key=moderator_key), minutes=15)
    _assert_locked(a.password("frank", PASSWORD), minutes=15)
    assert _last_login(app, "frank") is None

    # Another address signs in with the same key and the same account.
    assert b.login(api_key=moderator_key).status_code == 303
    assert b.password("frank", PASSWORD).status_code == 303
    metrics = b.client.get("/metrics", headers={"X-API-Key": _scorer_key(app)}).text
    assert 'civility_login_lockouts_total{scope="address"} 1.0' in metrics


def test_successful_logins_never_lock_anyone_out(
    make_app: Callable[..., Any], at: Callable[..., Browser]
) -> None:
    app = make_app(login_failures_per_address="2/15 minutes", login_failures_per_account="2/15 minutes")
    a = at(app, ADDRESS_A)
    moderator_key = _moderator_key(app)
    for _ in range(6):
        assert a.password("erin", PASSWORD).status_code == 303
        assert a.login(api_key=moderator_key).status_code == 303
    # One failure is still allowed after all those successes: nothing was counted.
    assert a.password("erin", WRONG).status_code == 401
    assert a.password("erin", PASSWORD).status_code == 303


def test_a_lockout_ends_when_the_window_moves_on(
    make_app: Callable[..., Any], at: Callable[..., Browser]
) -> None:
    app = make_app(login_failures_per_account="2/2 seconds")
    a = at(app, ADDRESS_A)
    assert a.password("erin", WRONG).status_code == 401
    assert a.password("erin", WRONG).status_code == 401
    locked = a.password("erin", PASSWORD)
    assert locked.status_code == 429
    assert 1 <= int(locked.headers["Retry-After"]) <= 2
    assert f"{LOCKOUT} 1 minute." in locked.text
    time.sleep(int(locked.headers["Retry-After"]) + 0.2)
    assert a.password("erin", PASSWORD).status_code == 303


@pytest.mark.parametrize("value", ["0/minute", "5/minute;10/hour", "often"])
def test_limits_are_validated(service_settings_factory: Callable[..., Any], value: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="login_failures_per_account"):
        service_settings_factory(login_failures_per_account=value)


def test_concurrent_guesses_cannot_overshoot_the_limit(
    make_app: Callable[..., Any], at: Callable[..., Browser], live_server: Callable[..., Any]
) -> None:
    """Twenty guesses at once over real HTTP: exactly the allowed three are checked, the rest refused."""
    import httpx

    app = make_app(login_failures_per_address="100/15 minutes")
    at(app, ADDRESS_A)  # creates the accounts
    with live_server(app) as live:
        clients = [httpx.Client(base_url=live.url) for _ in range(20)]
        tokens = [_csrf(client.get("/moderate/login").text) for client in clients]

        def guess(n: int) -> int:
            data = {"csrf_token": tokens[n], "username": "erin", "password": f"{WRONG} {n}"}
            return clients[n].post("/moderate/login", data=data).status_code

        with ThreadPoolExecutor(max_workers=len(clients)) as pool:
            statuses = sorted(pool.map(guess, range(len(clients))))
        for client in clients:
            client.close()
    assert statuses == [401] * 3 + [429] * 17

"""Authentication (API keys, web login session) and role checks, plus per-key rate limits."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass
from typing import Any

import anyio.to_thread
from fastapi import Request
from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy.orm import Session, sessionmaker

from civility.service.db.keys import Role, find_active_key, hash_token
from civility.service.errors import ApiError
from civility.service.settings import Settings

SESSION_KEY = "principal"


@dataclass(frozen=True)
class Principal:
    """Who is calling: an API key (``key_id``) or, with auth off, the local developer."""

    key_id: int | None
    name: str
    role: Role

    def allows(self, required: Role) -> bool:
        return self.role >= required

    def to_session(self) -> dict[str, Any]:
        data = asdict(self)
        data["role"] = self.role.name
        return data

    @classmethod
    def from_session(cls, data: Any) -> Principal | None:
        if not isinstance(data, dict):
            return None
        try:
            return cls(key_id=data.get("key_id"), name=str(data["name"]), role=Role.parse(str(data["role"])))
        except (KeyError, ValueError):
            return None


LOCAL_DEVELOPER = Principal(key_id=None, name="local (auth disabled)", role=Role.admin)


def token_from_request(request: Request) -> str | None:
    """The API key from ``X-API-Key``, ``Authorization: Bearer`` or ``?key=`` (Perspective style)."""
    header = request.headers.get("x-api-key")
    if header:
        return header.strip()
    authorization = request.headers.get("authorization", "")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    query = request.query_params.get("key")
    return query.strip() if query else None


def principal_for_token(session: Session, token: str) -> Principal | None:
    key = find_active_key(session, token)
    if key is None:
        return None
    return Principal(key_id=key.id, name=key.name, role=Role.parse(key.role))


INVALID_KEY = "The API key is not valid or has been revoked."


def authenticate(request: Request, settings: Settings, session: Session) -> Principal:
    """Resolve the caller or raise 401; with auth disabled everyone is the local developer."""
    if not settings.auth_enabled:
        return LOCAL_DEVELOPER
    token = token_from_request(request)
    if token:
        principal = principal_for_token(session, token)
        if principal is None:
            raise ApiError(401, "invalid_api_key", INVALID_KEY)
        return principal
    return _session_principal(request)


def _session_principal(request: Request) -> Principal:
    if "session" in request.scope:
        principal = Principal.from_session(request.session.get(SESSION_KEY))
        if principal is not None:
            return principal
    raise ApiError(
        401,
        "missing_api_key",
        "Authentication required: send an API key in X-API-Key, Authorization: Bearer, or ?key=.",
        headers={"WWW-Authenticate": "Bearer"},
    )


class KeyCache:
    """Remembers token lookups (valid and invalid) for ``ttl`` seconds, at most ``size`` of them.

    Saves a database round trip per request; a revoked key stops working within ``ttl``.
    """

    def __init__(self, ttl: float, size: int = 10_000) -> None:
        self.ttl = ttl
        self.size = size
        self._entries: OrderedDict[str, tuple[float, Principal | None]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, token_hash: str) -> tuple[bool, Principal | None]:
        if self.ttl <= 0:
            return False, None
        with self._lock:
            entry = self._entries.get(token_hash)
            if entry is None or entry[0] < time.monotonic():
                return False, None
            return True, entry[1]

    def put(self, token_hash: str, principal: Principal | None) -> None:
        if self.ttl <= 0:
            return
        with self._lock:
            self._entries[token_hash] = (time.monotonic() + self.ttl, principal)
            self._entries.move_to_end(token_hash)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)


async def authenticate_cached(
    request: Request, settings: Settings, sessions: sessionmaker[Session], cache: KeyCache
) -> Principal:
    """``authenticate`` for the hot path: the key lookup is cached and runs off the event loop."""
    if not settings.auth_enabled:
        return LOCAL_DEVELOPER
    token = token_from_request(request)
    if not token:
        return _session_principal(request)
    token_hash = hash_token(token)
    hit, principal = cache.get(token_hash)
    if not hit:

        def lookup() -> Principal | None:
            with sessions() as session:
                return principal_for_token(session, token)

        principal = await anyio.to_thread.run_sync(lookup)
        cache.put(token_hash, principal)
    if principal is None:
        raise ApiError(401, "invalid_api_key", INVALID_KEY)
    return principal


def require_role(principal: Principal, required: Role) -> Principal:
    if not principal.allows(required):
        raise ApiError(
            403,
            "forbidden",
            f"This needs the {required.name} role; the key {principal.name!r} has {principal.role.name}.",
            {"required_role": required.name, "role": principal.role.name},
        )
    return principal


class RateLimiter:
    """A moving-window limit per API key (or per client address with auth off)."""

    def __init__(self, limit: str, storage_uri: str, namespace: str = "civility") -> None:
        self.item: RateLimitItem = parse(limit)
        self.namespace = namespace
        self.limiter = MovingWindowRateLimiter(storage_from_string(storage_uri))

    def check(self, principal: Principal, request: Request) -> None:
        if principal.key_id is not None:
            identity = f"{self.namespace}:key:{principal.key_id}"
        else:
            identity = f"{self.namespace}:addr:{request.client.host if request.client else 'unknown'}"
        if not self.limiter.hit(self.item, identity):
            reset_at, _remaining = self.limiter.get_window_stats(self.item, identity)
            retry_after = max(1, int(reset_at - time.time()))
            raise ApiError(
                429,
                "rate_limited",
                f"Rate limit exceeded ({self.item}); slow down.",
                {"limit": str(self.item)},
                headers={"Retry-After": str(retry_after)},
            )

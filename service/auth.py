"""Authentication (API keys, web login session) and role checks, plus per-key rate limits."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from fastapi import Request
from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy.orm import Session

from civility.service.db.keys import Role, find_active_key
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


def authenticate(request: Request, settings: Settings, session: Session) -> Principal:
    """Resolve the caller or raise 401; with auth disabled everyone is the local developer."""
    if not settings.auth_enabled:
        return LOCAL_DEVELOPER
    token = token_from_request(request)
    if token:
        key = find_active_key(session, token)
        if key is None:
            raise ApiError(401, "invalid_api_key", "The API key is not valid or has been revoked.")
        return Principal(key_id=key.id, name=key.name, role=Role.parse(key.role))
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

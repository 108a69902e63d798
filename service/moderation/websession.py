"""Login session, CSRF tokens and flash messages for the moderator web page.

The session is starlette's signed cookie (``SameSite=Strict``). Every state-changing form or
``fetch`` carries the session's CSRF token (form field ``csrf_token`` or header ``X-CSRF-Token``).
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any, Literal

from fastapi import Request
from sqlalchemy.orm import Session

from civility.service.auth import LOCAL_DEVELOPER, SESSION_KEY, Principal
from civility.service.db.keys import ApiKey, Role
from civility.service.errors import ApiError
from civility.service.moderation.accounts import active_account
from civility.service.settings import Settings

CSRF_KEY = "csrf"
FLASH_KEY = "flash"
ACCOUNT_FIELD = "account"
CSRF_HEADER = "x-csrf-token"
FlashKind = Literal["success", "error", "info"]


def csrf_token(request: Request) -> str:
    token = request.session.get(CSRF_KEY)
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        request.session[CSRF_KEY] = token
    return token


def check_csrf(request: Request, submitted: str | None) -> None:
    expected = request.session.get(CSRF_KEY)
    candidate = submitted or request.headers.get(CSRF_HEADER)
    if not isinstance(expected, str) or not candidate or not hmac.compare_digest(expected, candidate):
        raise ApiError(
            403, "csrf_failed", "The form expired or did not come from this site; reload the page."
        )


def log_in(request: Request, principal: Principal, *, account: str | None = None) -> None:
    """Start a fresh session for ``principal`` (a new CSRF token too: no session fixation)."""
    request.session.clear()
    data: dict[str, Any] = principal.to_session()
    if account is not None:
        data[ACCOUNT_FIELD] = account
    request.session[SESSION_KEY] = data
    csrf_token(request)


def log_out(request: Request) -> None:
    request.session.clear()


def web_principal(request: Request, settings: Settings, session: Session) -> Principal | None:
    """The logged-in moderator, re-checked against the database (revoked keys and disabled accounts
    lose access at once), or ``None``."""
    if not settings.auth_enabled:
        return LOCAL_DEVELOPER
    data = request.session.get(SESSION_KEY)
    principal = Principal.from_session(data)
    if principal is None or not principal.allows(Role.moderator):
        return None
    account = data.get(ACCOUNT_FIELD) if isinstance(data, dict) else None
    if account is not None:
        return principal if active_account(session, str(account)) is not None else None
    if principal.key_id is not None:
        key = session.get(ApiKey, principal.key_id)
        return principal if key is not None and key.active else None
    return None


def flash(request: Request, message: str, kind: FlashKind = "info") -> None:
    messages = list(request.session.get(FLASH_KEY) or [])
    messages.append({"kind": kind, "message": message})
    request.session[FLASH_KEY] = messages[-5:]


def pop_flashes(request: Request) -> list[dict[str, str]]:
    messages = request.session.pop(FLASH_KEY, None) or []
    return [m for m in messages if isinstance(m, dict)]

"""Username/password accounts for the moderator web page (created by an admin).

Passwords are hashed with scrypt (Python's ``hashlib``) and a random salt; only the hash is stored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from civility.service.db.base import utcnow
from civility.service.db.keys import Role
from civility.service.db.moderation import ModeratorAccount
from civility.service.moderation.errors import InvalidInput, ModerationError

USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{1,99}$")
MIN_PASSWORD_CHARS = 10
# scrypt cost (RFC 7914 interactive-login parameters: N=2^14, r=8, p=1; ~16 MiB, tens of ms).
SCRYPT_N, SCRYPT_R, SCRYPT_P, SCRYPT_BYTES = 2**14, 8, 1, 32


class AccountExists(ModerationError):
    status_code = 409
    code = "account_exists"


class AccountNotFound(ModerationError):
    status_code = 404
    code = "account_not_found"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=SCRYPT_BYTES
    )
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, encoded: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = encoded.split("$")
        if scheme != "scrypt":
            return False
        expected = _unb64(digest)
        actual = hashlib.scrypt(
            password.encode("utf-8"), salt=_unb64(salt), n=int(n), r=int(r), p=int(p), dklen=len(expected)
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


@dataclass(frozen=True)
class AccountInfo:
    username: str
    role: str
    created_by: str | None
    active: bool


def create_account(
    session: Session, *, username: str, password: str, role: Role, created_by: str | None
) -> AccountInfo:
    """Create a login (the caller commits)."""
    if not USERNAME.match(username):
        raise InvalidInput(
            "username: 2-100 characters, letters, digits and . _ @ -, starting with a letter or digit",
            field="username",
        )
    if len(password) < MIN_PASSWORD_CHARS:
        raise InvalidInput(f"password: at least {MIN_PASSWORD_CHARS} characters", field="password")
    if role < Role.moderator:
        raise InvalidInput("web accounts are for moderators and admins", field="role")
    account = ModeratorAccount(
        username=username,
        password_hash=hash_password(password),
        role=role.name,
        created_at=utcnow(),
        created_by=created_by,
    )
    session.add(account)
    try:
        session.flush()
    except IntegrityError as exc:
        session.rollback()
        raise AccountExists(f"an account named {username!r} already exists", username=username) from exc
    return _info(account)


def _info(account: ModeratorAccount) -> AccountInfo:
    return AccountInfo(
        username=account.username,
        role=account.role,
        created_by=account.created_by,
        active=account.disabled_at is None,
    )


def authenticate_password(session: Session, username: str, password: str) -> ModeratorAccount | None:
    """The active account if the password matches (the caller commits ``last_login_at``)."""
    account = session.scalar(select(ModeratorAccount).where(ModeratorAccount.username == username))
    if account is None:
        hash_password(password)  # spend the same time as a real check
        return None
    if account.disabled_at is not None or not verify_password(password, account.password_hash):
        return None
    account.last_login_at = utcnow()
    return account


def active_account(session: Session, username: str) -> ModeratorAccount | None:
    account = session.scalar(select(ModeratorAccount).where(ModeratorAccount.username == username))
    return account if account is not None and account.disabled_at is None else None


def list_accounts(session: Session) -> list[AccountInfo]:
    return [_info(a) for a in session.scalars(select(ModeratorAccount).order_by(ModeratorAccount.username))]


def disable_account(session: Session, username: str) -> AccountInfo:
    account = session.scalar(select(ModeratorAccount).where(ModeratorAccount.username == username))
    if account is None:
        raise AccountNotFound(f"no account named {username!r}", username=username)
    if account.disabled_at is None:
        account.disabled_at = utcnow()
    return _info(account)

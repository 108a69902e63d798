"""API keys: hashed at rest, shown once, each with a role."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum

from sqlalchemy import ForeignKey, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from civility.service.db.base import Base, UTCDateTime, utcnow

TOKEN_PREFIX = "cvl_"


class Role(IntEnum):
    """Roles are ordered: a higher role can do everything a lower one can."""

    scorer = 1
    moderator = 2
    admin = 3

    @classmethod
    def parse(cls, name: str) -> Role:
        try:
            return cls[name.strip().lower()]
        except KeyError as exc:
            allowed = ", ".join(role.name for role in cls)
            raise ValueError(f"unknown role {name!r}; expected one of: {allowed}") from exc


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"), nullable=True)

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class IssuedKey:
    """A newly created key; ``token`` exists only here and is never stored."""

    key: ApiKey
    token: str


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_key(session: Session, *, name: str, role: Role, created_by: int | None = None) -> IssuedKey:
    """Create a key and return its token (show it once; only its sha256 is stored)."""
    if not name.strip():
        raise ValueError("a key needs a non-empty name")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        name=name.strip(),
        role=role.name,
        token_hash=hash_token(token),
        prefix=token[: len(TOKEN_PREFIX) + 6],
        created_by=created_by,
        created_at=utcnow(),
    )
    session.add(key)
    session.flush()
    return IssuedKey(key=key, token=token)


def find_active_key(session: Session, token: str) -> ApiKey | None:
    key = session.scalar(select(ApiKey).where(ApiKey.token_hash == hash_token(token)))
    if key is None or not key.active:
        return None
    return key


def list_keys(session: Session, *, include_revoked: bool = False) -> list[ApiKey]:
    query = select(ApiKey).order_by(ApiKey.id)
    if not include_revoked:
        query = query.where(ApiKey.revoked_at.is_(None))
    return list(session.scalars(query))


def revoke_key(session: Session, key_id: int) -> ApiKey:
    key = session.get(ApiKey, key_id)
    if key is None:
        raise LookupError(f"no API key with id {key_id}")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
    return key

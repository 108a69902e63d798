"""Brute-force protection for the moderator web login: limits on FAILED sign-in attempts.

Failures are counted in a moving window per client address and, separately, per submitted
username (so a distributed guess at one account is throttled too). Once a limit is used up,
``/moderate/login`` refuses every attempt in that scope, right or wrong, without checking the
credentials, until the oldest failure leaves the window. Successful sign-ins are never counted.

Check, credential test and record run under a per-identity lock, so concurrent guesses in one
process cannot overshoot a limit. With several workers, share the counts through
``rate_limit_storage`` (``redis://...``); with ``memory://`` each worker counts on its own.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Literal

import structlog
from limits import RateLimitItem
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from civility.service.metrics import Metrics
from civility.service.moderation.accounts import USERNAME
from civility.service.settings import parse_limit

log = structlog.get_logger("civility.login")

Scope = Literal["address", "account"]
# Locks are striped by identity: a bounded set, and unrelated identities rarely wait on each other.
LOCK_STRIPES = 64
SECONDS_PER_MINUTE = 60


def account_identity(username: str) -> str:
    """Storage identity of a submitted username: case-folded (stricter, never looser) and hashed, so
    neither its length nor its text reaches the limiter's storage."""
    return hashlib.sha256(username.strip().casefold().encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Lockout:
    """Why an attempt is refused: the locked scopes and the seconds until one more attempt is allowed."""

    scopes: tuple[Scope, ...]
    retry_after: int

    @property
    def minutes(self) -> int:
        return max(1, math.ceil(self.retry_after / SECONDS_PER_MINUTE))

    @property
    def message(self) -> str:
        unit = "minute" if self.minutes == 1 else "minutes"
        return f"Too many failed sign-in attempts; try again in {self.minutes} {unit}."


@dataclass
class LoginAttempt:
    """One sign-in attempt inside ``LoginThrottle.attempt``: ``lockout`` is set when it must be
    refused; otherwise the caller checks the credentials and calls ``failed()`` if they are wrong."""

    throttle: LoginThrottle
    address: str
    username: str | None
    lockout: Lockout | None = None
    _recorded: bool = field(default=False, repr=False)

    def failed(self) -> None:
        if self.lockout is not None or self._recorded:
            return
        self._recorded = True
        self.throttle._record_failure(self.address, self.username)


class LoginThrottle:
    def __init__(
        self,
        *,
        per_address: str,
        per_account: str,
        storage_uri: str,
        namespace: str,
        metrics: Metrics,
    ) -> None:
        self.items: dict[Scope, RateLimitItem] = {
            "address": parse_limit(per_address),
            "account": parse_limit(per_account),
        }
        self.namespace = f"{namespace}:login"
        self.limiter = MovingWindowRateLimiter(storage_from_string(storage_uri))
        self.metrics = metrics
        self._locks = [threading.Lock() for _ in range(LOCK_STRIPES)]

    def _identities(self, address: str, username: str | None) -> list[tuple[Scope, str]]:
        scopes: list[tuple[Scope, str]] = [("address", f"{self.namespace}:addr:{address}")]
        if username is not None and username.strip():
            scopes.append(("account", f"{self.namespace}:acct:{account_identity(username)}"))
        return scopes

    @contextmanager
    def attempt(self, address: str, username: str | None) -> Iterator[LoginAttempt]:
        """Hold the identities' locks for one attempt. ``username`` is the submitted username when the
        attempt checks a password (``None`` for an API-key attempt: only the address limit applies)."""
        identities = self._identities(address, username)
        stripes = sorted({hash(identity) % LOCK_STRIPES for _scope, identity in identities})
        with ExitStack() as stack:
            for stripe in stripes:  # always in ascending order: no deadlock between attempts
                stack.enter_context(self._locks[stripe])
            yield LoginAttempt(self, address, username, self._lockout(identities))

    def _lockout(self, identities: list[tuple[Scope, str]]) -> Lockout | None:
        locked: list[Scope] = []
        retry_after = 0
        now = time.time()
        for scope, identity in identities:
            item = self.items[scope]
            if self.limiter.test(item, identity):
                continue
            reset_at, _remaining = self.limiter.get_window_stats(item, identity)
            locked.append(scope)
            retry_after = max(retry_after, math.ceil(reset_at - now))
        if not locked:
            return None
        return Lockout(scopes=tuple(locked), retry_after=max(1, retry_after))

    def _record_failure(self, address: str, username: str | None) -> None:
        for scope, identity in self._identities(address, username):
            item = self.items[scope]
            if not self.limiter.hit(item, identity):
                continue  # already locked (another worker got there first)
            reset_at, remaining = self.limiter.get_window_stats(item, identity)
            if remaining > 0:
                continue
            # This failure used up the limit: the lockout starts now. Never log passwords or keys, and
            # the username only if it could be one (not, say, a password typed into the wrong field).
            self.metrics.login_lockouts.labels(scope).inc()
            log.warning(
                "login_lockout",
                scope=scope,
                address=address,
                username=username if scope == "account" and username and USERNAME.match(username) else None,
                limit=str(item),
                retry_after=max(1, math.ceil(reset_at - time.time())),
            )

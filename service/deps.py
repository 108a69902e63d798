"""FastAPI dependencies, named once as ``Annotated`` aliases.

A route reads ``def approve(session: SessionDep, moderator: CurrentModerator)``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from civility.service.auth import Principal, RateLimiter, authenticate_cached, require_role
from civility.service.batcher import MicroBatcher, ScoringModel
from civility.service.db.keys import Role
from civility.service.metrics import Metrics
from civility.service.model_pool import ModelPool
from civility.service.policy import Policy
from civility.service.settings import Settings


async def get_settings(request: Request) -> Settings:
    """Cheap accessors are async: sync dependencies cost a thread-pool hop each per request."""
    settings: Settings = request.app.state.settings
    return settings


def get_db(request: Request) -> Iterator[Session]:
    """A session per request; routes commit what they write, anything else is rolled back."""
    with request.app.state.session_factory() as session:
        yield session


async def get_models(request: Request) -> ModelPool:
    pool: ModelPool = request.app.state.models
    return pool


async def get_batcher(request: Request) -> MicroBatcher:
    pool: ModelPool = request.app.state.models
    return pool.default()


async def get_scorer(request: Request) -> ScoringModel:
    """The default model (503 while it is not loaded)."""
    pool: ModelPool = request.app.state.models
    return pool.default().model


async def get_policy(request: Request) -> Policy:
    policy: Policy = request.app.state.policy
    return policy


async def get_metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_db)]
ModelPoolDep = Annotated[ModelPool, Depends(get_models)]
BatcherDep = Annotated[MicroBatcher, Depends(get_batcher)]
ScorerDep = Annotated[ScoringModel, Depends(get_scorer)]
PolicyDep = Annotated[Policy, Depends(get_policy)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]


def _principal_with(role: Role) -> Callable[[Request], Awaitable[Principal]]:
    async def dependency(request: Request) -> Principal:
        state = request.app.state
        principal = await authenticate_cached(request, state.settings, state.session_factory, state.key_cache)
        require_role(principal, role)
        limiter: RateLimiter = request.app.state.rate_limiter
        limiter.check(principal, request)
        request.state.principal = principal
        return principal

    dependency.__name__ = f"require_{role.name}"
    return dependency


CurrentScorer = Annotated[Principal, Depends(_principal_with(Role.scorer))]
CurrentModerator = Annotated[Principal, Depends(_principal_with(Role.moderator))]
CurrentAdmin = Annotated[Principal, Depends(_principal_with(Role.admin))]

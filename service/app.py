"""The application factory: ``create_app(settings=None, scorer=None) -> FastAPI``."""

from __future__ import annotations

import asyncio
import importlib
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.sessions import SessionMiddleware

from civility import __version__
from civility.service.auth import KeyCache, RateLimiter
from civility.service.batcher import ScoringModel
from civility.service.db import make_engine, session_factory, upgrade_database
from civility.service.errors import install_exception_handlers
from civility.service.logging import configure_logging
from civility.service.login_throttle import LoginThrottle
from civility.service.metrics import Metrics
from civility.service.middleware import BodySizeLimitMiddleware, RequestContextMiddleware
from civility.service.model_pool import Loader, ModelPool
from civility.service.policy import Policy
from civility.service.settings import Settings

log = structlog.get_logger("civility.app")

# Each module exposes ``router`` (a FastAPI APIRouter). Add one line per router.
ROUTER_MODULES: tuple[str, ...] = (
    "civility.service.routers.ops",
    "civility.service.routers.score",
    "civility.service.routers.perspective",
    "civility.service.routers.coral",
    "civility.service.routers.comments",
    "civility.service.routers.queue",
    "civility.service.routers.web",
)


def create_app(
    settings: Settings | None = None,
    scorer: ScoringModel | None = None,
    *,
    model_loader: Loader | None = None,
) -> FastAPI:
    """Build the service. ``scorer`` injects an already-loaded default model (tests, benchmarks);
    ``model_loader`` replaces how pinned models are loaded (default: ``Scorer.load``)."""
    settings = settings or Settings()
    configure_logging(level=settings.log_level, json=settings.log_json, debug=settings.debug)
    if not settings.auth_enabled:
        log.warning(
            "auth_disabled", message="AUTHENTICATION IS OFF: anyone can call every route. Local use only."
        )
    if settings.database_url is None:
        settings.home.mkdir(parents=True, exist_ok=True)

    engine = make_engine(settings.resolved_database_url)
    metrics = Metrics()
    models = ModelPool(settings, metrics, loader=model_loader)
    if scorer is not None:
        models.set_default(scorer)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.migrate_on_start:
            await asyncio.to_thread(upgrade_database, engine)
        models.start()
        if not models.ready and settings.preload_model:
            await models.load_default()
        log.info("started", version=__version__, model=models.default().model.ref if models.ready else None)
        try:
            yield
        finally:
            log.info("stopping")
            await models.close()
            engine.dispose()

    app = FastAPI(
        title="Civility",
        version=__version__,
        description="Self-hosted comment moderation: calibrated scoring, Perspective-compatible API, "
        "Coral external moderation, review queue.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = session_factory(engine)
    app.state.metrics = metrics
    app.state.models = models
    app.state.policy = Policy.load(settings.policy_file)
    app.state.key_cache = KeyCache(settings.auth_cache_seconds)
    app.state.rate_limiter = RateLimiter(
        settings.rate_limit, settings.rate_limit_storage, settings.rate_limit_namespace
    )
    app.state.login_throttle = LoginThrottle(
        per_address=settings.login_failures_per_address,
        per_account=settings.login_failures_per_account,
        storage_uri=settings.rate_limit_storage,
        namespace=settings.rate_limit_namespace,
        metrics=metrics,
    )

    install_exception_handlers(app)
    for module_name in ROUTER_MODULES:
        app.include_router(importlib.import_module(module_name).router)

    if settings.session_secret is not None:
        session_secret = settings.session_secret.get_secret_value()
    else:
        session_secret = secrets.token_urlsafe(32)
    app.add_middleware(SessionMiddleware, secret_key=session_secret, same_site="strict", https_only=False)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type", "Authorization", "X-API-Key"],
        )
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_request_bytes)
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    return app

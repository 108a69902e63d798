"""Operations: liveness, readiness, Prometheus metrics."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import Engine, text

from civility import __version__
from civility.service.deps import CurrentScorer, MetricsDep, ModelPoolDep

router = APIRouter(tags=["ops"])


@router.get("/healthz", summary="Liveness: the process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok", "version": __version__}


def _ping(engine: Engine) -> None:
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))


@router.get(
    "/readyz",
    summary="Readiness: the model is loaded and the database answers",
    responses={503: {"description": "Not ready (model not loaded or database unreachable)"}},
)
async def readyz(request: Request, models: ModelPoolDep) -> JSONResponse:
    checks: dict[str, Any] = {}
    ready = True
    if models.ready:
        checks["model"] = {"ok": True, "ref": models.default().model.ref}
    else:
        ready = False
        checks["model"] = {"ok": False, "error": models.load_error or "not loaded yet"}
    try:
        await asyncio.wait_for(asyncio.to_thread(_ping, request.app.state.engine), timeout=2.0)
        checks["database"] = {"ok": True}
    except Exception as exc:
        ready = False
        checks["database"] = {"ok": False, "error": type(exc).__name__}
    body = {"status": "ready" if ready else "unavailable", "checks": checks}
    return JSONResponse(body, status_code=200 if ready else 503)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(metrics: MetricsDep, _principal: CurrentScorer) -> Response:
    return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

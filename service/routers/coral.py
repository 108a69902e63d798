"""Coral Talk External Moderation Phase: ``POST /v1/integrations/coral``.

Request and response as Coral's ``src/core/server/services/comments/pipeline/phases/external.ts``.
Coral signs the raw JSON body with each active secret, HMAC-SHA256, and sends
``X-Coral-Signature: sha256=<hex>[,sha256=<hex>...]``. We answer 204 (no opinion) when the policy
allows the comment or when scoring would not finish within ``coral_budget_ms``: Coral fails open.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections import OrderedDict
from typing import Literal

import structlog
from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from civility.service.deps import MetricsDep, ModelPoolDep, PolicyDep, SettingsDep
from civility.service.errors import ApiError
from civility.service.html_text import html_to_text
from civility.service.policy import Reason
from civility.service.scoring import score_texts
from civility.service.settings import Settings
from civility.service.validation import has_visible_text

router = APIRouter(prefix="/v1/integrations", tags=["coral"])
log = structlog.get_logger("civility.coral")

SIGNATURE_HEADER = "X-Coral-Signature"
CoralStatus = Literal["APPROVED", "NONE", "PREMOD", "REJECTED", "SYSTEM_WITHHELD"]
CoralReason = Literal[
    "COMMENT_DETECTED_TOXIC", "COMMENT_DETECTED_BANNED_WORD", "COMMENT_DETECTED_SUSPECT_WORD"
]
REASON_FOR_CODE: dict[str, CoralReason] = {
    "score_reject": "COMMENT_DETECTED_TOXIC",
    "score_review": "COMMENT_DETECTED_TOXIC",
    "banned_term": "COMMENT_DETECTED_BANNED_WORD",
    "suspect_term": "COMMENT_DETECTED_SUSPECT_WORD",
}


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class CoralTenant(_Lenient):
    id: str
    domain: str | None = None


class CoralComment(_Lenient):
    body: str
    parentID: str | None = None


class CoralAuthor(_Lenient):
    id: str
    role: str | None = None


class CoralStory(_Lenient):
    id: str
    url: str | None = None


class CoralSite(_Lenient):
    id: str


class CoralRequest(_Lenient):
    """Coral's ``ExternalModerationPhaseRequest`` (``tenantID`` accepted as well as ``tenant``)."""

    tenant: CoralTenant | None = None
    tenantID: str | None = None
    action: Literal["NEW", "EDIT"] = "NEW"
    comment: CoralComment
    author: CoralAuthor | None = None
    story: CoralStory | None = None
    site: CoralSite | None = None


class CoralAction(BaseModel):
    actionType: Literal["FLAG"] = "FLAG"
    reason: CoralReason
    additionalDetails: str | None = None


class CoralResponse(BaseModel):
    """Coral's ``ExternalModerationPhaseResponse``; Coral strips unknown keys."""

    status: CoralStatus | None = None
    actions: list[CoralAction] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    metadata: dict[str, object] = Field(default_factory=dict)


def sign(secret: str, body: bytes) -> str:
    """The header value Coral sends for one secret."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify_signature(settings: Settings, body: bytes, header: str | None) -> None:
    secrets = [s.get_secret_value() for s in settings.coral_signing_secrets]
    if not secrets:
        if not settings.auth_enabled:
            return
        raise ApiError(
            503,
            "coral_not_configured",
            "No Coral signing secret is configured (set CIVILITY_CORAL_SIGNING_SECRETS).",
        )
    if not header:
        raise ApiError(401, "missing_signature", f"The {SIGNATURE_HEADER} header is missing.")
    offered = [part.strip() for part in header.split(",") if part.strip()]
    expected = [sign(secret, body) for secret in secrets]
    if not any(hmac.compare_digest(o, e) for o in offered for e in expected):
        raise ApiError(401, "invalid_signature", f"The {SIGNATURE_HEADER} does not match the body.")


def _actions(reasons: list[Reason]) -> list[CoralAction]:
    grouped: OrderedDict[CoralReason, list[str]] = OrderedDict()
    for reason in reasons:
        grouped.setdefault(REASON_FOR_CODE[reason.code], []).append(reason.message)
    return [
        CoralAction(reason=coral_reason, additionalDetails="; ".join(details))
        for coral_reason, details in grouped.items()
    ]


@router.post(
    "/coral",
    summary="Coral External Moderation Phase webhook",
    response_model=CoralResponse,
    response_model_exclude_none=True,
    responses={204: {"description": "No opinion (allowed, or not scored within the budget)"}},
)
async def coral(
    request: Request,
    settings: SettingsDep,
    models: ModelPoolDep,
    policy: PolicyDep,
    metrics: MetricsDep,
) -> CoralResponse | Response:
    raw = await request.body()
    verify_signature(settings, raw, request.headers.get(SIGNATURE_HEADER))
    try:
        payload = CoralRequest.model_validate_json(raw)
    except ValidationError as exc:
        errors = [
            {"loc": [str(p) for p in e["loc"]], "type": e["type"], "msg": e["msg"]} for e in exc.errors()
        ]
        raise ApiError(
            422, "invalid_request", "Not a Coral external moderation request.", {"errors": errors}
        ) from exc
    text = html_to_text(payload.comment.body)
    if not has_visible_text(text):
        return Response(status_code=204)
    text = text[: settings.max_text_chars]
    site = payload.site.id if payload.site else None
    try:
        scored = await asyncio.wait_for(
            score_texts(models, metrics, [text]), timeout=settings.coral_budget_ms / 1000.0
        )
    except TimeoutError:
        log.warning("coral_budget_exceeded", budget_ms=settings.coral_budget_ms)
        return Response(status_code=204)
    result = scored.results[0]
    decision = policy.decide(result.scores, text, site=site)
    if decision.action == "allow":
        return Response(status_code=204)
    status_for = {"reject": settings.coral_reject_status, "review": settings.coral_review_status}
    status = status_for[decision.action]
    return CoralResponse(
        status=None if status == "NONE" else status,
        actions=_actions(decision.reasons),
        tags=[],
        metadata={
            "civility": {
                "model": scored.model_ref,
                "decision": decision.action,
                "scores": {label: round(value, 4) for label, value in result.scores.items()},
                "language": result.language,
            }
        },
    )

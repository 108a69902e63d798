"""Perspective API compatibility: ``comments:analyze``, ``comments:suggestscore``, discovery.

Field for field as Perspective's ``v1alpha1`` (see ``2-api/methods.md`` in conversationai/perspectiveapi);
errors are Google-shaped: ``{"error": {"code": 400, "message": ..., "status": "INVALID_ARGUMENT"}}``.
Differences, all additive: attributes come from ``configs/labels.yaml`` (plus HARASSMENT); ``ATTR@VERSION``
pins a version of the serving model; ``spanScores`` are word-level spans that drive the score
(character offsets); ``comment.type = "HTML"`` is accepted and stripped to text.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr

from civility.model.labels import load_labels
from civility.service.deps import (
    CurrentScorer,
    MetricsDep,
    ModelPoolDep,
    SessionDep,
    SettingsDep,
)
from civility.service.discovery import discovery_document
from civility.service.errors import ApiError
from civility.service.html_text import html_to_text
from civility.service.scoring import score_texts
from civility.service.settings import Settings
from civility.service.validation import has_visible_text

router = APIRouter(tags=["perspective"])
PREFIX = "/v1alpha1"
PROBABILITY = "PROBABILITY"


def invalid(message: str) -> ApiError:
    return ApiError(400, "invalid_argument", message)


class TextEntry(BaseModel):
    model_config = ConfigDict(extra="ignore")

    text: StrictStr | None = None
    type: Literal["PLAIN_TEXT", "HTML", "TEXT_TYPE_UNSPECIFIED"] | None = None

    def plain(self) -> str:
        text = self.text or ""
        return html_to_text(text) if self.type == "HTML" else text


class ArticleAndParentComment(BaseModel):
    model_config = ConfigDict(extra="ignore")

    article: TextEntry | None = None
    parentComment: TextEntry | None = None


class PerspectiveContext(BaseModel):
    model_config = ConfigDict(extra="ignore")

    entries: list[TextEntry] = Field(default_factory=list)
    articleAndParentComment: ArticleAndParentComment | None = None

    def as_text(self) -> str | None:
        parts = [entry.plain() for entry in self.entries]
        pair = self.articleAndParentComment
        if pair is not None:
            parts += [e.plain() for e in (pair.article, pair.parentComment) if e is not None]
        joined = "\n".join(part.strip() for part in parts if part and part.strip())
        return joined or None


class AttributeParameters(BaseModel):
    model_config = ConfigDict(extra="ignore")

    scoreType: StrictStr | None = None
    scoreThreshold: float | None = Field(default=None, ge=0, le=1)


class AnalyzeCommentRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    comment: TextEntry
    context: PerspectiveContext | None = None
    requestedAttributes: dict[str, AttributeParameters] = Field(default_factory=dict)
    spanAnnotations: StrictBool = False
    languages: list[StrictStr] | None = None
    doNotStore: StrictBool = False
    clientToken: StrictStr | None = None
    sessionId: StrictStr | None = None
    communityId: StrictStr | None = None


class Score(BaseModel):
    value: float = Field(ge=0, le=1)
    type: StrictStr | None = PROBABILITY


class SpanScore(BaseModel):
    begin: int
    end: int
    score: Score


class AttributeScores(BaseModel):
    model_config = ConfigDict(extra="ignore")

    summaryScore: Score | None = None
    spanScores: list[SpanScore] | None = None


class AnalyzeCommentResponse(BaseModel):
    attributeScores: dict[str, AttributeScores]
    languages: list[str]
    detectedLanguages: list[str]
    clientToken: str | None = None


class SuggestCommentScoreRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    comment: TextEntry
    context: PerspectiveContext | None = None
    attributeScores: dict[str, AttributeScores] = Field(default_factory=dict)
    languages: list[StrictStr] | None = None
    communityId: StrictStr | None = None
    clientToken: StrictStr | None = None
    sessionId: StrictStr | None = None
    doNotStore: StrictBool = False


class SuggestCommentScoreResponse(BaseModel):
    clientToken: str | None = None


def _comment_text(comment: TextEntry, settings: Settings) -> str:
    text = comment.plain()
    if not has_visible_text(text):
        raise invalid("Comment must be non-empty.")
    if len(text) > settings.max_text_chars:
        raise invalid(f"Comment text was too long: {len(text)} characters. Max: {settings.max_text_chars}.")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise invalid("Comment text is not valid UTF-8.") from exc
    return text


def _attribute_label(attribute: str) -> tuple[str, str | None]:
    """``TOXICITY`` or ``TOXICITY@1.2.0`` -> (label id, version or None)."""
    name, _, version = attribute.partition("@")
    try:
        label = load_labels().by_perspective(name)
    except KeyError:
        raise invalid(f"Unknown requested attribute: {attribute}") from None
    if version == "" and "@" in attribute:
        raise invalid(f"Attribute {attribute} has an empty version.")
    return label.id, version or None


def _check_languages(languages: list[str] | None, attributes: list[str]) -> None:
    if not languages:
        return
    unsupported = [lang for lang in languages if lang.strip().lower().split("-")[0] != "en"]
    if unsupported:
        raise invalid(
            f"Attribute {attributes[0]} does not support request languages: {','.join(unsupported)}"
        )


@router.post(
    f"{PREFIX}/comments:analyze",
    summary="Perspective AnalyzeComment",
    response_model=AnalyzeCommentResponse,
    response_model_exclude_none=True,
)
async def analyze(
    body: AnalyzeCommentRequest,
    settings: SettingsDep,
    models: ModelPoolDep,
    metrics: MetricsDep,
    _principal: CurrentScorer,
) -> AnalyzeCommentResponse:
    text = _comment_text(body.comment, settings)
    if not body.requestedAttributes:
        raise invalid("At least one requested attribute must be specified.")
    attributes = list(body.requestedAttributes)
    for params in body.requestedAttributes.values():
        if params.scoreType not in (None, "", PROBABILITY, "SCORE_TYPE_UNSPECIFIED"):
            raise invalid(f"Unsupported score type: {params.scoreType}")
    resolved = {attr: _attribute_label(attr) for attr in attributes}
    _check_languages(body.languages, attributes)

    default_model = models.default().model
    by_model: dict[str | None, list[str]] = defaultdict(list)
    for attr, (_label, version) in resolved.items():
        ref = None if version is None else f"{default_model.manifest.name}@{version}"
        by_model[ref].append(attr)

    context = body.context.as_text() if body.context is not None else None
    # Spans cost one model call per word group; past max_span_chars answer without them.
    want_spans = body.spanAnnotations and len(text) <= settings.max_span_chars
    scores: dict[str, AttributeScores] = {}
    detected: list[str] = []
    for ref, attrs in by_model.items():
        try:
            scored = await score_texts(
                models, metrics, [text], contexts=[context], model_ref=ref, spans=want_spans
            )
        except ApiError as exc:
            if exc.code in ("unknown_model", "invalid_model_ref"):
                raise invalid(f"Unknown attribute version: {attrs[0]}") from exc
            raise
        result = scored.results[0]
        if result.language and not detected:
            detected = [result.language]
        for attr in attrs:
            label, _version = resolved[attr]
            value = result.scores[label]
            threshold = body.requestedAttributes[attr].scoreThreshold
            if threshold is not None and value < threshold:
                continue
            entry = AttributeScores(summaryScore=Score(value=value, type=PROBABILITY))
            if want_spans:
                found = (result.spans or {}).get(label, [])
                entry.spanScores = [
                    SpanScore(begin=s.begin, end=s.end, score=Score(value=s.score, type=PROBABILITY))
                    for s in found
                ]
            scores[attr] = entry
    languages = list(body.languages) if body.languages else (detected or ["en"])
    return AnalyzeCommentResponse(
        attributeScores=scores,
        languages=languages,
        detectedLanguages=detected,
        clientToken=body.clientToken,
    )


@router.post(
    f"{PREFIX}/comments:suggestscore",
    summary="Perspective SuggestCommentScore (stored as feedback labels unless doNotStore)",
    response_model=SuggestCommentScoreResponse,
    response_model_exclude_none=True,
)
def suggestscore(
    body: SuggestCommentScoreRequest,
    request: Request,
    settings: SettingsDep,
    session: SessionDep,
    principal: CurrentScorer,
) -> SuggestCommentScoreResponse:
    from civility.service.db.feedback import add_feedback

    text = _comment_text(body.comment, settings)
    if not body.attributeScores:
        raise invalid("At least one attribute score must be specified.")
    labels: dict[str, float] = {}
    spans: dict[str, list[dict[str, Any]]] = {}
    for attr, suggested in body.attributeScores.items():
        label, _version = _attribute_label(attr)
        span_scores = suggested.spanScores or []
        for span in span_scores:
            if not 0 <= span.begin <= span.end <= len(text):
                raise invalid(f"Span [{span.begin}, {span.end}) of {attr} is outside the comment.")
        if suggested.summaryScore is not None:
            labels[label] = suggested.summaryScore.value
        elif span_scores:
            labels[label] = max(span.score.value for span in span_scores)
        else:
            raise invalid(f"Attribute {attr} has neither a summaryScore nor spanScores.")
        if span_scores:
            spans[label] = [s.model_dump() for s in span_scores]
    _check_languages(body.languages, list(body.attributeScores))
    if body.doNotStore or settings.privacy_mode:
        return SuggestCommentScoreResponse(clientToken=body.clientToken)
    context: dict[str, Any] = {}
    if body.context is not None and body.context.as_text():
        context["text"] = body.context.as_text()
    if spans:
        context["spans"] = spans
    add_feedback(
        session,
        source="perspective_suggestscore",
        text=text,
        labels=labels,
        key_id=principal.key_id,
        context=context or None,
        languages=body.languages,
        community_id=body.communityId,
        client_token=body.clientToken,
    )
    session.commit()
    return SuggestCommentScoreResponse(clientToken=body.clientToken)


@router.get("/$discovery/rest", summary="Google API discovery document (for googleapiclient)")
async def discovery(request: Request, settings: SettingsDep, version: str = "v1alpha1") -> dict[str, Any]:
    if version != "v1alpha1":
        raise ApiError(404, "not_found", f"Discovery document for version {version!r} not found.")
    root = settings.public_url or str(request.base_url)
    return discovery_document(root)

"""Native scoring API: ``POST /v1/score``."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, model_validator

from civility.service.deps import CurrentScorer, MetricsDep, ModelPoolDep, PolicyDep, SettingsDep
from civility.service.errors import ApiError
from civility.service.policy import Decision
from civility.service.scoring import score_texts
from civility.service.validation import check_batch, check_labels, check_spans

router = APIRouter(prefix="/v1", tags=["scoring"])


class Context(BaseModel):
    """What the comment replies to; used when the model was trained with context."""

    model_config = ConfigDict(extra="forbid")

    parent: StrictStr | None = Field(default=None, description="Text of the parent comment.")
    title: StrictStr | None = Field(default=None, description="Title of the article.")

    def as_text(self) -> str | None:
        parts = [part.strip() for part in (self.title, self.parent) if part and part.strip()]
        return "\n".join(parts) or None


class ScoreRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"text": "You are an idiot.", "context": {"title": "Budget vote"}, "spans": True}]
        },
    )

    text: StrictStr | None = Field(default=None, description="One comment (or use `texts`).")
    texts: list[StrictStr] | None = Field(default=None, description="A batch of comments.")
    context: Context | list[Context | None] | None = Field(
        default=None, description="One context for every text, or one per text."
    )
    labels: list[StrictStr] | None = Field(default=None, description="Only return these labels.")
    spans: StrictBool = Field(default=False, description="Return character spans that drive each label.")
    model: StrictStr | None = Field(default=None, description="Pin a model: `name` or `name@version`.")
    site: StrictStr | None = Field(default=None, description="Site id for per-site policy overrides.")

    @model_validator(mode="after")
    def _one_input(self) -> ScoreRequest:
        if (self.text is None) == (self.texts is None):
            raise ValueError("send exactly one of `text` (one comment) or `texts` (a batch)")
        return self

    def all_texts(self) -> list[str]:
        return [self.text] if self.text is not None else list(self.texts or [])

    def contexts(self, n: int) -> list[str | None] | None:
        if self.context is None:
            return None
        if isinstance(self.context, Context):
            return [self.context.as_text()] * n
        if len(self.context) != n:
            raise ApiError(
                422,
                "context_mismatch",
                f"`context` has {len(self.context)} entries for {n} texts.",
                {"contexts": len(self.context), "texts": n},
            )
        return [c.as_text() if c is not None else None for c in self.context]


class SpanOut(BaseModel):
    begin: int = Field(description="Start offset (characters) into the original text.")
    end: int = Field(description="End offset (exclusive).")
    score: float
    text: str


class ReasonOut(BaseModel):
    code: Literal["score_reject", "score_review", "banned_term", "suspect_term"]
    action: Literal["allow", "review", "reject"]
    message: str
    label: str | None = None
    score: float | None = None
    threshold: float | None = None
    term: str | None = None
    begin: int | None = None
    end: int | None = None


class DecisionOut(BaseModel):
    action: Literal["allow", "review", "reject"]
    reasons: list[ReasonOut]

    @classmethod
    def of(cls, decision: Decision) -> DecisionOut:
        return cls(
            action=decision.action,
            reasons=[
                ReasonOut(
                    code=r.code,
                    action=r.action,
                    message=r.message,
                    label=r.label,
                    score=r.score,
                    threshold=r.threshold,
                    term=r.term,
                    begin=r.begin,
                    end=r.end,
                )
                for r in decision.reasons
            ],
        )


class ScoreResultOut(BaseModel):
    scores: dict[str, float] = Field(description="Calibrated probability per label.")
    flagged: dict[str, bool] = Field(description="Score at or above the model's threshold per label.")
    decision: DecisionOut
    spans: dict[str, list[SpanOut]] | None = None
    language: str | None = Field(description="Detected language (ISO 639-1), if known.")
    english: bool = Field(description="False when the text is not English; the model is English-only.")
    truncated: bool = Field(description="The text was cut to the model's character cap before scoring.")


class ScoreResponse(BaseModel):
    model: str = Field(description="The model that scored: name@version.")
    request_id: str
    results: list[ScoreResultOut] = Field(description="One result per input text, in order.")


@router.post(
    "/score",
    summary="Score one comment or a batch",
    response_model=ScoreResponse,
    responses={
        401: {"description": "Missing or invalid API key"},
        413: {"description": "Request body too large"},
        422: {"description": "Invalid input: empty text, text too long, unknown label, batch too large"},
        429: {"description": "Rate limit exceeded"},
        503: {"description": "Model not loaded"},
    },
)
async def score(
    body: ScoreRequest,
    request: Request,
    settings: SettingsDep,
    models: ModelPoolDep,
    policy: PolicyDep,
    metrics: MetricsDep,
    _principal: CurrentScorer,
) -> ScoreResponse:
    texts = body.all_texts()
    check_batch(texts, settings)
    if body.spans:
        check_spans(texts, settings)
    contexts = body.contexts(len(texts))
    batcher = await models.get(body.model)
    wanted = check_labels(body.labels, batcher.model.labels)
    scored = await score_texts(
        models, metrics, texts, contexts=contexts, model_ref=body.model, spans=body.spans
    )
    results: list[ScoreResultOut] = []
    for text, result in zip(texts, scored.results, strict=True):
        decision = policy.decide(result.scores, text, site=body.site)
        keep = wanted or list(result.scores)
        spans = None
        if body.spans and result.spans is not None:
            spans = {
                label: [SpanOut(begin=s.begin, end=s.end, score=s.score, text=s.text) for s in found]
                for label, found in result.spans.items()
                if label in keep
            }
        results.append(
            ScoreResultOut(
                scores={label: result.scores[label] for label in keep},
                flagged={label: result.flagged[label] for label in keep},
                decision=DecisionOut.of(decision),
                spans=spans,
                language=result.language,
                english=result.english,
                truncated=result.truncated,
            )
        )
    return ScoreResponse(model=scored.model_ref, request_id=request.state.request_id, results=results)

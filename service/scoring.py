"""Scoring shared by the native, Perspective and Coral routes: pick the model, score off the loop."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from civility.service.metrics import Metrics
from civility.service.model_pool import ModelPool


@dataclass(frozen=True)
class Scored:
    model_ref: str
    labels: list[str]
    results: list[Any]  # civility.model.scorer.ScoreResult, one per text


async def score_texts(
    pool: ModelPool,
    metrics: Metrics,
    texts: Sequence[str],
    *,
    contexts: Sequence[str | None] | None = None,
    model_ref: str | None = None,
    spans: bool = False,
) -> Scored:
    """Score every label of ``texts``; span requests bypass the micro-batcher."""
    batcher = await pool.get(model_ref)
    ctx: list[str | None] = list(contexts) if contexts is not None else [None] * len(texts)
    if spans:
        results = await batcher.run(list(texts), ctx, spans=True)
    else:
        results = await batcher.score(texts, ctx)
    for result in results:
        metrics.observe_scores(result.scores)
    return Scored(model_ref=batcher.model.ref, labels=list(batcher.model.labels), results=results)

"""FastAPI dependencies of the review queue (on top of ``civility.service.deps``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import anyio.from_thread
from fastapi import Depends

from civility.service.batcher import ScoreResultLike
from civility.service.deps import BatcherDep, PolicyDep, SettingsDep
from civility.service.moderation.config import ModerationConfig, load_moderation_config
from civility.service.moderation.submission import Pipeline


def get_moderation_config(settings: SettingsDep) -> ModerationConfig:
    return load_moderation_config(settings.moderation_file)


ModerationConfigDep = Annotated[ModerationConfig, Depends(get_moderation_config)]


def get_pipeline(
    settings: SettingsDep, batcher: BatcherDep, policy: PolicyDep, config: ModerationConfigDep
) -> Pipeline:
    """The submission pipeline; scoring goes through the shared micro-batcher on the event loop.

    Only for sync (threadpool) routes: the score function hops back to the loop with anyio.
    """

    def score(texts: list[str], contexts: list[str | None] | None) -> Sequence[ScoreResultLike]:
        return anyio.from_thread.run(batcher.score, texts, contexts)

    return Pipeline(
        scorer=batcher.model,
        policy=policy,
        config=config,
        max_text_chars=settings.max_text_chars,
        privacy_mode=settings.privacy_mode,
        score=score,
    )


PipelineDep = Annotated[Pipeline, Depends(get_pipeline)]

"""Loaded model bundles: the default one plus pinned ones, loaded lazily and cached (LRU).

Each loaded model gets its own ``MicroBatcher``; all share one thread pool so the
number of threads running ONNX stays bounded (``scoring_threads``).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import structlog

from civility.service.batcher import MicroBatcher, ScoringModel
from civility.service.errors import ApiError
from civility.service.metrics import Metrics
from civility.service.settings import Settings

log = structlog.get_logger("civility.models")

# Clients may pin a registered bundle by name or name@version, never a filesystem path.
MODEL_REF = re.compile(r"^[a-z0-9][a-z0-9_-]*(?:@\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?)?$")

Loader = Callable[[str | None], ScoringModel]


def load_scorer(settings: Settings) -> Loader:
    """A loader that opens bundles with ``civility.model.scorer.Scorer`` (ONNX, no torch)."""

    def load(ref: str | None) -> ScoringModel:
        from civility.model.scorer import Scorer

        return Scorer.load(ref, precision=settings.precision, threads=settings.onnx_threads)

    return load


class ModelPool:
    def __init__(self, settings: Settings, metrics: Metrics, loader: Loader | None = None) -> None:
        self.settings = settings
        self.metrics = metrics
        self.loader = loader or load_scorer(settings)
        self.executor = ThreadPoolExecutor(max_workers=settings.scoring_threads, thread_name_prefix="score")
        self._default: MicroBatcher | None = None
        self._pinned: OrderedDict[str, MicroBatcher] = OrderedDict()
        self._lock = threading.Lock()
        self.load_error: str | None = None

    # lifecycle ---------------------------------------------------------------------------
    def _batcher(self, model: ScoringModel) -> MicroBatcher:
        batcher = MicroBatcher(
            model,
            self.executor,
            max_size=self.settings.batch_max_size,
            max_wait_ms=self.settings.batch_max_wait_ms,
            consumers=self.settings.scoring_threads,
            on_batch=self.metrics.batch_size.observe,
        )
        self.metrics.model_loaded(model.ref, self.settings.precision)
        return batcher

    def set_default(self, model: ScoringModel) -> MicroBatcher:
        self._default = self._batcher(model)
        self.load_error = None
        with contextlib.suppress(RuntimeError):  # outside an event loop: start() runs at startup
            self._default.start()
        return self._default

    async def load_default(self) -> None:
        """Load the configured default model in a worker thread (startup)."""
        try:
            model = await asyncio.to_thread(self.loader, self.settings.model)
        except Exception as exc:
            self.load_error = f"{type(exc).__name__}: {exc}"
            log.error("model_load_failed", model=self.settings.model, error=self.load_error)
            return
        self.set_default(model)
        log.info("model_loaded", model=model.ref)

    def start(self) -> None:
        for batcher in [self._default, *self._pinned.values()]:
            if batcher is not None:
                batcher.start()

    async def close(self) -> None:
        for batcher in [self._default, *self._pinned.values()]:
            if batcher is not None:
                await batcher.stop()
        self.executor.shutdown(wait=True)

    # lookup ------------------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        return self._default is not None

    def default(self) -> MicroBatcher:
        if self._default is None:
            detail = f": {self.load_error}" if self.load_error else " yet"
            raise ApiError(503, "model_unavailable", f"The scoring model is not loaded{detail}.")
        return self._default

    async def get(self, ref: str | None) -> MicroBatcher:
        """The batcher for ``ref`` (None = default); pinned bundles load on first use."""
        default = self.default()
        if ref is None or ref == default.model.ref or ref == default.model.ref.split("@")[0]:
            return default
        if not MODEL_REF.match(ref):
            raise ApiError(
                422,
                "invalid_model_ref",
                f"Model pin {ref!r} is not of the form name or name@MAJOR.MINOR.PATCH.",
                {"model": ref},
            )
        with self._lock:
            cached = self._pinned.get(ref)
            if cached is not None:
                self._pinned.move_to_end(ref)
                return cached
        try:
            model = await asyncio.to_thread(self.loader, ref)
        except Exception as exc:
            log.info("model_pin_failed", model=ref, error=f"{type(exc).__name__}: {exc}")
            raise ApiError(
                422, "unknown_model", f"Model {ref!r} is not available on this server.", {"model": ref}
            ) from exc
        batcher = self._batcher(model)
        batcher.start()
        evicted: list[MicroBatcher] = []
        with self._lock:
            existing = self._pinned.get(ref)
            if existing is not None:
                evicted.append(batcher)
                batcher = existing
            else:
                self._pinned[ref] = batcher
                while len(self._pinned) > self.settings.max_loaded_models:
                    evicted.append(self._pinned.popitem(last=False)[1])
        for old in evicted:
            await old.stop()
        return batcher

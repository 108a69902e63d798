"""Micro-batching: concurrent scoring requests share model calls, off the event loop.

Requests without spans are queued; one consumer task per scoring thread takes what is
queued (up to ``max_size`` texts) and runs the model in a thread pool, so the event loop
never blocks. When the previous batch served more than one request (the server is busy),
the consumer waits up to ``max_wait_ms`` for more to arrive; when idle it runs at once,
so a lone request pays no batching delay.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any, Protocol


class ScoreResultLike(Protocol):
    """What the service reads from ``civility.model.scorer.ScoreResult``."""

    @property
    def scores(self) -> dict[str, float]: ...
    @property
    def flagged(self) -> dict[str, bool]: ...
    @property
    def spans(self) -> dict[str, list[Any]] | None: ...
    @property
    def language(self) -> str | None: ...
    @property
    def english(self) -> bool: ...
    @property
    def truncated(self) -> bool: ...


class ScoringModel(Protocol):
    """What the service needs from ``civility.model.scorer.Scorer``."""

    @property
    def ref(self) -> str: ...
    @property
    def labels(self) -> list[str]: ...
    @property
    def manifest(self) -> Any: ...

    def score(
        self,
        texts: Sequence[str],
        *,
        spans: bool = False,
        labels: Sequence[str] | None = None,
        contexts: Sequence[str | None] | None = None,
    ) -> Sequence[Any]: ...


@dataclass
class _Job:
    texts: list[str]
    contexts: list[str | None]
    future: asyncio.Future[list[Any]] = field(repr=False)


class MicroBatcher:
    """Collects concurrent ``score`` calls into shared model calls."""

    def __init__(
        self,
        model: ScoringModel,
        executor: Executor,
        *,
        max_size: int,
        max_wait_ms: float,
        consumers: int = 1,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self.model = model
        self.executor = executor
        self.max_size = max_size
        self.max_wait = max_wait_ms / 1000.0
        self.consumers = consumers
        self.on_batch = on_batch
        self._queue: asyncio.Queue[_Job] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._busy = False
        self._running = 0

    def start(self) -> None:
        """Start the consumers; needs a running event loop (RuntimeError otherwise)."""
        if self._tasks:
            return
        asyncio.get_running_loop()
        self._queue = asyncio.Queue()
        self._tasks = [
            asyncio.create_task(self._consume(), name=f"batcher-{i}") for i in range(self.consumers)
        ]

    async def stop(self, timeout: float = 30.0) -> None:
        """Finish queued and running jobs (up to ``timeout`` s), then stop the consumers."""
        deadline = asyncio.get_running_loop().time() + timeout
        while (self._queue is not None and not self._queue.empty()) or self._running:
            if asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.005)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def score(self, texts: Sequence[str], contexts: Sequence[str | None] | None = None) -> list[Any]:
        """Score texts (no spans) through the shared queue; results in input order."""
        if not texts:
            return []
        ctx: list[str | None] = list(contexts) if contexts is not None else [None] * len(texts)
        if len(texts) >= self.max_size or not self._tasks or self._queue is None:
            return await self.run(list(texts), ctx)
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Job(list(texts), ctx, future))
        return await future

    async def run(
        self,
        texts: list[str],
        contexts: list[str | None],
        *,
        spans: bool = False,
        labels: Sequence[str] | None = None,
    ) -> list[Any]:
        """Score directly in the thread pool (large batches, span requests)."""
        loop = asyncio.get_running_loop()
        results = await loop.run_in_executor(self.executor, self._call, texts, contexts, spans, labels)
        if self.on_batch is not None:
            self.on_batch(len(texts))
        return results

    def _call(
        self, texts: list[str], contexts: list[str | None], spans: bool, labels: Sequence[str] | None
    ) -> list[Any]:
        has_context = any(c is not None for c in contexts)
        return list(
            self.model.score(texts, spans=spans, labels=labels, contexts=contexts if has_context else None)
        )

    async def _consume(self) -> None:
        assert self._queue is not None
        queue = self._queue
        loop = asyncio.get_running_loop()
        while True:
            jobs = [await queue.get()]
            size = len(jobs[0].texts)
            deadline = loop.time() + (self.max_wait if self._busy else 0.0)
            while size < self.max_size:
                try:
                    job = queue.get_nowait()
                except asyncio.QueueEmpty:
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        break
                    try:
                        job = await asyncio.wait_for(queue.get(), remaining)
                    except TimeoutError:
                        break
                jobs.append(job)
                size += len(job.texts)
            self._busy = len(jobs) > 1
            self._running += 1
            try:
                await self._run_jobs(jobs)
            finally:
                self._running -= 1

    async def _run_jobs(self, jobs: list[_Job]) -> None:
        texts = [t for job in jobs for t in job.texts]
        contexts = [c for job in jobs for c in job.contexts]
        try:
            results = await self.run(texts, contexts)
        except Exception as exc:
            for job in jobs:
                if not job.future.done():
                    job.future.set_exception(exc)
            return
        start = 0
        for job in jobs:
            end = start + len(job.texts)
            if not job.future.done():
                job.future.set_result(results[start:end])
            start = end

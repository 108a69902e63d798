"""Prometheus metrics: per-route request counts and latency, score histograms, model info.

Each app gets its own registry (tests create many apps). With several uvicorn workers,
``civility serve`` sets ``PROMETHEUS_MULTIPROC_DIR`` and ``/metrics`` aggregates all workers.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
SCORE_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


class Metrics:
    def __init__(self) -> None:
        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "civility_http_requests",
            "HTTP requests by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "civility_http_request_duration_seconds",
            "HTTP request latency by route template.",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.scores = Histogram(
            "civility_label_score",
            "Calibrated scores returned, per label.",
            ["label"],
            buckets=SCORE_BUCKETS,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "civility_model_batch_size",
            "Texts per model call (micro-batching).",
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.model_info = Gauge(
            "civility_model_info",
            "Loaded model bundles (value 1), by ref and precision.",
            ["model", "precision"],
            registry=self.registry,
            multiprocess_mode="max",
        )
        self.login_lockouts = Counter(
            "civility_login_lockouts",
            "Moderator web sign-in lockouts started (a failed-attempt limit used up), by scope.",
            ["scope"],
            registry=self.registry,
        )

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route, method).observe(seconds)

    def observe_scores(self, scores: Mapping[str, float]) -> None:
        for label, value in scores.items():
            self.scores.labels(label).observe(value)

    def model_loaded(self, ref: str, precision: str) -> None:
        self.model_info.labels(ref, precision).set(1)

    def render(self) -> bytes:
        if self.multiprocess:
            registry = CollectorRegistry()
            MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)

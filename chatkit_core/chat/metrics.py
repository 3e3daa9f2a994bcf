"""Prometheus metrics, one registry per app so several apps can live in one process."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, generate_latest

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("chatkit_requests", "HTTP requests", ["method", "route", "status"], registry=r)
        self.latency = Histogram("chatkit_request_duration_seconds", "HTTP request duration", ["route"],
                                 buckets=_LATENCY_BUCKETS, registry=r)
        self.outcomes = Counter("chatkit_provider_requests", "Provider attempts by outcome",
                                ["provider", "outcome"], registry=r)
        self.fallbacks = Counter("chatkit_fallbacks", "Providers failed over or skipped",
                                 ["provider", "reason"], registry=r)
        self.answers = Counter("chatkit_answers", "Answers by provider that gave them and completeness",
                               ["provider", "status"], registry=r)
        self.ttft = Histogram("chatkit_time_to_first_token_seconds", "Time to first token", ["provider"],
                              buckets=_LATENCY_BUCKETS, registry=r)
        self.rate_limited = Counter("chatkit_rate_limited", "Requests refused by the rate limiter",
                                    ["route"], registry=r)
        self.active_sessions = Gauge("chatkit_active_sessions", "Live sessions in the store", registry=r)
        self.feedback = Counter("chatkit_feedback", "Ratings visitors gave answers, by the answering provider",
                                ["provider", "rating"], registry=r)
        self.answer_cache = Counter("chatkit_answer_cache", "Answer cache lookups (hit, miss) and answers stored",
                                    ["result"], registry=r)
        for result in ("hit", "miss", "store"):  # exported from the start, so the hit ratio is never missing
            self.answer_cache.labels(result)
        ProcessCollector(registry=r)  # process_resident_memory_bytes and CPU, for the Grafana dashboard
        self._children: dict[tuple[Any, ...], Any] = {}

    def _child(self, metric: Any, *labels: str) -> Any:
        """``metric.labels(*labels)``, looked up once: prometheus_client takes a lock on every lookup."""
        key = (metric, *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def provider_outcome(self, provider: str, outcome: str) -> None:
        self._child(self.outcomes, provider, outcome).inc()

    def fallback(self, provider: str, reason: str) -> None:
        self._child(self.fallbacks, provider, reason).inc()

    def first_token(self, provider: str, seconds: float) -> None:
        self._child(self.ttft, provider).observe(seconds)

    def answer(self, provider: str, complete: bool) -> None:
        self._child(self.answers, provider, "complete" if complete else "incomplete").inc()

    def cached(self, result: str) -> None:
        """An answer cache lookup (``hit``, ``miss``) or an answer stored (``store``)."""
        self._child(self.answer_cache, result).inc()

    def request(self, method: str, route: str, status: int, seconds: float) -> None:
        self._child(self.requests, method, route, str(status)).inc()
        self._child(self.latency, route).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)

"""Prometheus metrics, one registry per app so several apps can live in one process."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, generate_latest

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_CHARS_BUCKETS = (50, 100, 200, 400, 800, 1600, 3200, 6400)
EXPERIMENT_OUTCOMES = ("declined", "follow_up", "fallback", "error", "handoff")


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
        # Experiments: labelled by the experiment and variant names of the config, never by what a
        # request or a stored message says, so the series are bounded by the config.
        self.experiment_answers = Counter("chatkit_experiment_answers", "Answers given in each experiment variant",
                                          ["experiment", "variant"], registry=r)
        self.experiment_feedback = Counter("chatkit_experiment_feedback", "Ratings of each experiment variant's "
                                           "answers", ["experiment", "variant", "rating"], registry=r)
        self.experiment_outcomes = Counter(
            "chatkit_experiment_outcomes", "What came of each experiment variant's turns: declined, follow_up, "
            "fallback, error, handoff", ["experiment", "variant", "outcome"], registry=r)
        self.experiment_ttft = Histogram("chatkit_experiment_time_to_first_token_seconds", "Time to first token "
                                         "by experiment variant", ["experiment", "variant"],
                                         buckets=_LATENCY_BUCKETS, registry=r)
        self.experiment_chars = Histogram("chatkit_experiment_answer_chars", "Answer length in characters by "
                                          "experiment variant", ["experiment", "variant"],
                                          buckets=_CHARS_BUCKETS, registry=r)
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

    def variants(self, names: list[tuple[str, str]]) -> None:
        """Export every configured variant's series from the start, at 0: a rate is never missing."""
        for experiment, variant in names:
            self._child(self.experiment_answers, experiment, variant)
            for rating in ("up", "down"):
                self._child(self.experiment_feedback, experiment, variant, rating)
            for outcome in EXPERIMENT_OUTCOMES:
                self._child(self.experiment_outcomes, experiment, variant, outcome)

    def variant_answer(self, experiment: str, variant: str, chars: int, ttft_ms: float | None) -> None:
        self._child(self.experiment_answers, experiment, variant).inc()
        self._child(self.experiment_chars, experiment, variant).observe(chars)
        if ttft_ms is not None:
            self._child(self.experiment_ttft, experiment, variant).observe(ttft_ms / 1000)

    def variant_rating(self, experiment: str, variant: str, rating: str) -> None:
        self._child(self.experiment_feedback, experiment, variant, rating).inc()

    def variant_outcome(self, experiment: str, variant: str, outcome: str) -> None:
        self._child(self.experiment_outcomes, experiment, variant, outcome).inc()

    def request(self, method: str, route: str, status: int, seconds: float) -> None:
        self._child(self.requests, method, route, str(status)).inc()
        self._child(self.latency, route).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)

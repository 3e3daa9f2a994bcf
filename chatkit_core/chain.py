"""The provider fallback chain: the one place that retries, times out and fails over.

``Chain.stream`` yields :class:`Started` once the answer begins, then text deltas, then
:class:`Finished`. Before the first delta every failure is silent: the chain retries the
provider (exponential backoff with jitter, honouring Retry-After) or moves on to the next.
After it, a failure raises :class:`StreamBroken` carrying the partial text, unless the
caller asked for ``buffered`` answers (nothing has been shown yet, so failing over is
still invisible).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import structlog

from chatkit_core.breaker import Breaker
from chatkit_core.config import ChainConfig
from chatkit_core.health import Health
from chatkit_core.metrics import Metrics
from chatkit_core.providers import ChatRequest, Chunk, Provider, ProviderError

log = structlog.get_logger("chatkit.chain")


class Started(msgspec.Struct, frozen=True):
    provider: str
    model: str
    fallbacks: list[str]
    """``"name:kind"`` for each provider that failed or was skipped before this one."""
    ttft: float | None = None
    """Seconds from the request to this provider until its first text."""


class Finished(msgspec.Struct, frozen=True):
    usage: dict[str, Any] | None


class ChainFailed(Exception):
    """No provider produced an answer; ``fallbacks`` says why each one did not."""

    def __init__(self, fallbacks: list[str]) -> None:
        super().__init__("every provider failed: " + ", ".join(fallbacks))
        self.fallbacks = fallbacks


class StreamBroken(Exception):
    """The answering provider failed after the first delta."""

    def __init__(self, started: Started, partial: str, error: ProviderError) -> None:
        super().__init__(f"{started.provider} failed mid-answer: {error.kind}")
        self.started = started
        self.partial = partial
        self.error = error


Event = Started | str | Finished


class Chain:
    def __init__(self, providers: list[Provider], config: ChainConfig, metrics: Metrics) -> None:
        self.providers = providers
        self.config = config
        self.metrics = metrics
        self.breakers = {p.name: Breaker(config.breaker_failures, config.breaker_cooldown) for p in providers}

    def status(self, name: str) -> Health | None:
        """``cooldown`` while a provider's circuit is open, else None (ask the provider)."""
        return Health("cooldown", "circuit open") if self.breakers[name].is_open else None

    async def stream(self, request: ChatRequest, buffered: bool = False) -> AsyncIterator[Event]:
        deadline = time.monotonic() + self.config.deadline
        fallbacks: list[str] = []
        for index, provider in enumerate(self.providers):
            breaker = self.breakers[provider.name]
            last = index == len(self.providers) - 1
            if not breaker.allow() and not last:
                self._fell_back(provider, "circuit_open", fallbacks)
                continue
            async with contextlib.aclosing(self._try(provider, request, deadline, fallbacks, buffered)) as events:
                async for event in events:
                    yield event
                    if isinstance(event, Finished):
                        return
            if time.monotonic() >= deadline:
                break
        raise ChainFailed(fallbacks)

    async def _try(
        self, provider: Provider, request: ChatRequest, deadline: float, fallbacks: list[str], buffered: bool
    ) -> AsyncIterator[Event]:
        """Attempts on one provider; yields nothing when it failed before its first delta."""
        breaker = self.breakers[provider.name]
        for attempt in range(self.config.retries + 1):
            started_at = time.monotonic()
            state = _Attempt()
            try:
                async with contextlib.aclosing(self._attempt(provider, request, deadline, fallbacks, state)) as events:
                    async for event in events:
                        if isinstance(event, Finished):
                            breaker.succeeded()
                            self.metrics.provider_outcome(provider.name, "success")
                        yield event
            except ProviderError as error:
                breaker.failed(trip=error.trip)
                self.metrics.provider_outcome(provider.name, error.kind)
                if state.started and not buffered:
                    raise StreamBroken(state.started, state.text, error) from error
                log.warning("provider_failed", provider=provider.name, kind=error.kind, attempt=attempt + 1,
                            error=str(error), elapsed=round(time.monotonic() - started_at, 3))
                delay = self._retry_delay(error, attempt, deadline, breaker)
                if delay is None:
                    self._fell_back(provider, error.kind, fallbacks)
                    return
                await asyncio.sleep(delay)
                continue
            except (asyncio.CancelledError, GeneratorExit):
                breaker.released()  # no verdict: a half-open circuit may probe again
                raise
            return

    async def _attempt(
        self, provider: Provider, request: ChatRequest, deadline: float, fallbacks: list[str], state: _Attempt
    ) -> AsyncIterator[Event]:
        began = time.monotonic()
        usage: dict[str, Any] | None = None
        async with contextlib.aclosing(provider.stream(request)) as chunks:
            while (chunk := await self._next(provider, chunks, deadline, waiting_first=not state.text)) is not None:
                usage = chunk.usage or usage
                if not chunk.text:
                    continue
                if state.started is None:
                    state.started = Started(provider.name, provider.model, list(fallbacks), time.monotonic() - began)
                    self.metrics.first_token(provider.name, state.started.ttft)
                    yield state.started
                state.text += chunk.text
                yield chunk.text
        if state.started is None:  # an empty answer is still an answer
            state.started = Started(provider.name, provider.model, list(fallbacks))
            yield state.started
        yield Finished(usage)

    async def _next(
        self, provider: Provider, chunks: AsyncIterator[Chunk], deadline: float, waiting_first: bool
    ) -> Chunk | None:
        limit = provider.options.first_token_wait if waiting_first else provider.options.chunk_timeout
        wait = min(limit, deadline - time.monotonic())
        if wait <= 0:
            raise ProviderError("the request deadline passed", kind="timeout", retryable=False)
        try:
            async with asyncio.timeout(wait):
                return await anext(chunks)
        except StopAsyncIteration:
            return None
        except TimeoutError:
            what = "first token" if waiting_first else "next chunk"
            raise ProviderError(f"no {what} within {wait:.1f}s", kind="timeout") from None
        except ProviderError:
            raise
        except Exception as error:  # a plugin bug must fail over, not take the request down
            log.exception("provider_crashed", provider=provider.name)
            raise ProviderError(f"{type(error).__name__} in provider", kind="crash", retryable=False) from error

    def _retry_delay(self, error: ProviderError, attempt: int, deadline: float, breaker: Breaker) -> float | None:
        """Seconds to wait before retrying the same provider, or None to move on."""
        if not error.retryable or attempt >= self.config.retries or breaker.is_open:
            return None
        if error.retry_after is not None and error.retry_after > self.config.max_retry_after:
            return None
        ceiling = min(self.config.backoff_max, self.config.backoff * 2**attempt)
        delay = ceiling / 2 + random.uniform(0, ceiling / 2)
        delay = max(delay, error.retry_after or 0.0)
        return delay if time.monotonic() + delay < deadline else None

    def _fell_back(self, provider: Provider, kind: str, fallbacks: list[str]) -> None:
        fallbacks.append(f"{provider.name}:{kind}")
        self.metrics.fallback(provider.name, kind)
        log.info("provider_skipped", provider=provider.name, reason=kind)


class _Attempt:
    __slots__ = ("started", "text")

    def __init__(self) -> None:
        self.started: Started | None = None
        self.text = ""

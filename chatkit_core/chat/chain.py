"""The provider fallback chain: the one place that retries, times out, queues and fails over.

``Chain.stream`` yields :class:`Queued` while the request waits for one of the provider's
``max_concurrency`` slots, :class:`Started` once the answer begins, then text deltas, then
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
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any

import msgspec
import structlog

from chatkit_core.chat.breaker import Breaker
from chatkit_core.chat.health import Health
from chatkit_core.chat.metrics import Metrics
from chatkit_core.chat.providers import ChatRequest, Chunk, Provider, ProviderError
from chatkit_core.chat.shared_slots import SlotStore
from chatkit_core.chat.slots import Gate, Place, QueueFull, Slots

log = structlog.get_logger("chatkit.chain")


DEFAULT_MAX_TOKENS = 512
"""About 400 words: room for a full answer, never a runaway one filling the model's context."""


class ChainConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    order: list[str] = msgspec.field(default_factory=list)
    """Provider names, tried in this order. Empty: the providers in the order the file lists them."""
    deadline: float = 300.0
    """Longest a whole answer may take, fallbacks included, seconds."""
    retries: int = 1
    """Extra attempts on the same provider after a retryable failure."""
    backoff: float = 0.2
    backoff_max: float = 2.0
    max_retry_after: float = 10.0
    """A Retry-After longer than this fails over instead of waiting."""
    breaker_failures: int = 3
    """Consecutive failures that open a provider's circuit."""
    breaker_cooldown: float = 30.0
    """Seconds an open circuit waits before one probe request."""
    concurrency_store: str = ""
    """Where every instance shares each provider's ``max_concurrency`` and queue (``redis://…``);
    empty: each instance counts its own."""
    concurrency_lease: float = 10.0
    """Seconds after which a slot or place in line of an instance that stopped renewing it is freed."""

    def __post_init__(self) -> None:
        if self.retries < 0 or self.breaker_failures < 1:
            raise ValueError("retries must be >= 0 and breaker_failures >= 1")
        if self.concurrency_lease < 1:
            raise ValueError("concurrency_lease must be at least 1 (seconds)")
        if min(self.deadline, self.backoff_max, self.breaker_cooldown) <= 0 or self.backoff < 0:
            raise ValueError("deadline, backoff_max and breaker_cooldown must be > 0, backoff >= 0")


class Queued(msgspec.Struct, frozen=True):
    """The request waits for a slot of a busy provider; sent again when it moves up."""

    position: int
    """1: next in line."""


class Started(msgspec.Struct, frozen=True):
    provider: str
    model: str
    fallbacks: list[str]
    """``"name:kind"`` for each failed attempt and skipped provider before this answer."""
    ttft: float | None = None
    """Seconds from the request to this provider until its first text."""


class Finished(msgspec.Struct, frozen=True):
    usage: dict[str, Any] | None
    truncated: bool = False
    """The provider stopped at the length cap: the answer is cut short."""


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


Event = Queued | Started | str | Finished


class Chain:
    def __init__(self, providers: list[Provider], config: ChainConfig, metrics: Metrics,
                 max_tokens: int = DEFAULT_MAX_TOKENS, shared: Chain | None = None,
                 slot_store: SlotStore | None = None) -> None:
        self.providers = providers
        self.config = config
        self.metrics = metrics
        self.max_tokens = max_tokens
        """``[chat] max_tokens``: the cap of providers that set none."""
        # An experiment variant's chain shares each provider's circuit and queue with the base
        # chain (``shared``): the same server, whichever variant's visitor is asking.
        self.breakers: dict[str, Breaker] = shared.breakers if shared else {}
        self.slot_store: SlotStore | None = shared.slot_store if shared else slot_store
        """Slots shared with other instances (``concurrency_store``), or None."""
        self.slots: dict[str, Gate] = shared.slots if shared else {}
        for p in providers:
            self.breakers.setdefault(p.name, Breaker(config.breaker_failures, config.breaker_cooldown))
            if p.name not in self.slots:
                self.slots[p.name] = self._gate(p)
        self.failure_listeners: list[Callable[[str], None]] = shared.failure_listeners if shared else []
        """Called with a provider's name when it fails in a way that says it may be down."""

    def _gate(self, provider: Provider) -> Gate:
        limit, max_queue = provider.options.max_concurrency, provider.options.max_queue
        if self.slot_store is not None and limit:
            return self.slot_store.gate(provider.name, limit, max_queue)
        return Slots(limit, max_queue)

    def status(self, name: str) -> Health | None:
        """``cooldown`` while a provider's circuit is open, else None (ask the provider)."""
        return Health("cooldown", "circuit open") if self.breakers[name].is_open else None

    async def stream(self, request: ChatRequest, buffered: bool = False) -> AsyncGenerator[Event, None]:
        """Each provider in turn, each retried while its failures are retryable, until one answers.

        A failure before the answer's first text moves on silently; after it, the answer is
        interrupted (:class:`StreamBroken`) unless ``buffered``, when nothing has been shown.
        """
        deadline = time.monotonic() + self.config.deadline
        fallbacks: list[str] = []
        for index, provider in enumerate(self.providers):
            breaker = self.breakers[provider.name]
            if not breaker.allow() and index < len(self.providers) - 1:
                fallbacks.append(f"{provider.name}:circuit_open")
                self._moved_on(provider, "circuit_open")
                continue
            given = request if provider.takes_images else request.without_images()
            capped = msgspec.structs.replace(given, max_tokens=self._cap(provider))
            for attempt in range(self.config.retries + 1):
                began, state = time.monotonic(), _Attempt()
                try:
                    async with contextlib.aclosing(self._attempt(provider, capped, deadline, fallbacks, state,
                                                                 buffered)) as events:
                        async for event in events:
                            if isinstance(event, Finished):
                                breaker.succeeded()
                                self.metrics.provider_outcome(provider.name, "success")
                            yield event
                    return
                except ProviderError as error:
                    self._failed(provider, error, state.sent_at)
                    if state.started and not buffered:
                        raise StreamBroken(state.started, state.text, error) from error
                    fallbacks.append(f"{provider.name}:{error.kind}")
                    log.warning("provider_failed", provider=provider.name, kind=error.kind, attempt=attempt + 1,
                                error=str(error), elapsed=round(time.monotonic() - began, 3))
                    delay = self._retry_delay(error, attempt, deadline, breaker)
                    if delay is None:
                        self._moved_on(provider, error.kind)
                        break
                    await asyncio.sleep(delay)
                except (asyncio.CancelledError, GeneratorExit):
                    breaker.released()  # no verdict: a half-open circuit may probe again
                    raise
            if time.monotonic() >= deadline:
                break
        raise ChainFailed(fallbacks)

    def _cap(self, provider: Provider) -> int | None:
        cap = provider.options.max_tokens if provider.options.max_tokens is not None else self.max_tokens
        return cap or None

    def _failed(self, provider: Provider, error: ProviderError, sent_at: float | None) -> None:
        """Count a failure toward the circuit when it is about the provider, not one request."""
        self.metrics.provider_outcome(provider.name, error.kind)
        breaker = self.breakers[provider.name]
        if not error.provider_wide:
            breaker.released()  # an answer was refused or never asked for: no verdict on the provider
            return
        breaker.failed(trip=error.trip, started=sent_at)
        for listener in self.failure_listeners:
            listener(provider.name)

    async def _attempt(
        self, provider: Provider, request: ChatRequest, deadline: float, fallbacks: list[str], state: _Attempt,
        buffered: bool,
    ) -> AsyncGenerator[Event, None]:
        """One attempt: a slot of the provider (waiting in its queue), then its answer, chunk by chunk."""
        try:
            ticket = await self.slots[provider.name].join()
        except QueueFull:
            raise _queue_full(provider) from None
        try:
            until = min(time.monotonic() + provider.options.queue_timeout, deadline)
            while not ticket.granted:
                if not buffered:
                    yield Queued(ticket.position)
                await self._moved_up(provider, ticket, until)
            began = state.sent_at = time.monotonic()  # the first-token limit runs from here, not from the queue
            usage: dict[str, Any] | None = None
            truncated = False
            clock = _ChunkClock()
            async with contextlib.aclosing(provider.stream(request)) as chunks, contextlib.aclosing(clock):
                while (chunk := await self._next(provider, chunks, deadline, clock, not state.text)) is not None:
                    usage = chunk.usage or usage
                    truncated = truncated or chunk.truncated
                    if not chunk.text:
                        continue
                    if state.started is None:
                        ttft = time.monotonic() - began
                        state.started = Started(provider.name, provider.model, list(fallbacks), ttft)
                        self.metrics.first_token(provider.name, ttft)
                        yield state.started
                    state.text += chunk.text
                    yield chunk.text
            if state.started is None:  # an empty answer is still an answer
                state.started = Started(provider.name, provider.model, list(fallbacks))
                yield state.started
            yield Finished(usage, truncated)
        finally:
            ticket.leave()

    @staticmethod
    async def _moved_up(provider: Provider, ticket: Place, until: float) -> None:
        try:
            async with asyncio.timeout(until - time.monotonic()):
                await ticket.moved()
        except TimeoutError:
            raise ProviderError(f"no free slot on {provider.name} within {provider.options.queue_timeout:.1f}s",
                                kind="queue_timeout", retryable=False) from None
        except QueueFull:  # a shared line was lost, and this instance's own is full
            raise _queue_full(provider) from None

    async def _next(
        self, provider: Provider, chunks: AsyncIterator[Chunk], deadline: float, clock: _ChunkClock,
        waiting_first: bool,
    ) -> Chunk | None:
        limit = provider.options.first_token_wait if waiting_first else provider.options.chunk_timeout
        wait = min(limit, deadline - time.monotonic())
        if wait <= 0:
            raise ProviderError("the request deadline passed", kind="timeout", retryable=False)
        try:
            async with asyncio.timeout(None) as scope:
                clock.start(scope, wait)
                try:
                    return await anext(chunks)
                finally:
                    clock.stop()
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

    def _moved_on(self, provider: Provider, kind: str) -> None:
        self.metrics.fallback(provider.name, kind)
        log.info("provider_skipped", provider=provider.name, reason=kind)


def _queue_full(provider: Provider) -> ProviderError:
    return ProviderError(f"{provider.name} is busy and its queue is full", kind="queue_full", retryable=False)


class _Attempt:
    __slots__ = ("sent_at", "started", "text")

    def __init__(self) -> None:
        self.started: Started | None = None
        self.text = ""
        self.sent_at: float | None = None
        """When the request went upstream (after any wait for a slot)."""


class _ChunkClock:
    """The chunk timeouts of one answer on one timer.

    A timer per chunk (``asyncio.timeout(wait)``) is most of the chain's own CPU on a fast
    stream. Here each wait only moves the due time; the timer, when it fires before it,
    sets itself again for the new one, and expires the waiting scope once it has passed.
    """

    __slots__ = ("due", "handle", "loop", "scope")

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.due = 0.0
        self.scope: asyncio.Timeout | None = None
        self.handle: asyncio.TimerHandle | None = None

    def start(self, scope: asyncio.Timeout, wait: float) -> None:
        self.scope, self.due = scope, self.loop.time() + wait
        if self.handle is not None and self.handle.when() > self.due:  # a shorter wait than the last one
            self.handle.cancel()
            self.handle = None
        if self.handle is None:
            self.handle = self.loop.call_at(self.due, self._check)

    def stop(self) -> None:
        self.scope = None

    def _check(self) -> None:
        self.handle = None
        if self.scope is None:  # not waiting: the next wait sets the timer again
            return
        if self.loop.time() >= self.due:
            self.scope.reschedule(self.due)  # expires at once, unless the wait ends first
        else:
            self.handle = self.loop.call_at(self.due, self._check)

    async def aclose(self) -> None:
        if self.handle is not None:
            self.handle.cancel()

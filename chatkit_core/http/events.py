"""Handoff events as Server-Sent Events, and the bound on how many streams are open.

Each event carries its number as the SSE ``id``; a client that reconnects sends it back as
``Last-Event-ID`` (or ``?lastEventId=`` where it cannot set headers) and gets what it missed,
once. A quiet stream sends a ``: keep-alive`` comment every ``[handoff] heartbeat`` seconds and
ends after ``stream_seconds`` (the client reconnects). Streams are bounded per visitor's
conversation (``max_streams_per_session``) and per process (``max_streams``): one more is
refused with ``429 too_many_streams``.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterator, Iterator

import structlog
from litestar import Request
from litestar.response import ServerSentEvent, ServerSentEventMessage

from chatkit_core.chat.errors import TooManyStreams, invalid
from chatkit_core.chat.handoff_store import StoredEvent
from chatkit_core.chat.sessions import StoreUnavailable
from chatkit_core.http.errors import api_error

log = structlog.get_logger("chatkit.events")

RETRY_MS = 2000
"""How soon a browser's EventSource reconnects after a stream ends."""
MAX_LAST_EVENT_ID = 10**12


class StreamSlots:
    """Open streams, per key and in all, in this process."""

    def __init__(self, total: int, per_key: int) -> None:
        self.total = total
        self.per_key = per_key
        self.open: Counter[str] = Counter()

    def check(self, key: str, per_key: int | None = None) -> None:
        """Refuse a stream that could not be held (429), before any byte is sent."""
        per_key = per_key or self.per_key
        if sum(self.open.values()) >= self.total:
            raise api_error(TooManyStreams("Too many live connections are open on this server. Please try again "
                                           "in a minute.", limit=self.total))
        if self.open[key] >= per_key:
            raise api_error(TooManyStreams(f"This conversation already has {per_key} live connections open. "
                                           "Please close another tab or window first.", limit=per_key))

    @contextlib.contextmanager
    def held(self, key: str, per_key: int | None = None) -> Iterator[bool]:
        """Hold a slot while the stream runs; False (nothing held) if the bound was reached meanwhile."""
        free = sum(self.open.values()) < self.total and self.open[key] < (per_key or self.per_key)
        if free:
            self.open[key] += 1
        try:
            yield free
        finally:
            if free:
                self.open[key] -= 1
                if not self.open[key]:
                    del self.open[key]


def last_event_id(request: Request) -> int:
    """The number of the last event the client has, from ``Last-Event-ID`` or ``?lastEventId=``; 0: none."""
    raw = request.headers.get("last-event-id") or request.query_params.get("lastEventId") or "0"
    if not raw.isdigit() or len(raw) > 13 or int(raw) > MAX_LAST_EVENT_ID:
        raise api_error(invalid("Last-Event-ID", "Last-Event-ID must be the id of an event this stream sent."))
    return int(raw)


def sse(events: AsyncIterator[ServerSentEventMessage], headers: dict[str, str] | None = None) -> ServerSentEvent:
    return ServerSentEvent(events, headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no", **(headers or {})})


async def messages(slots: StreamSlots, key: str, events: AsyncGenerator[StoredEvent | None, None],
                   per_key: int | None = None) -> AsyncGenerator[ServerSentEventMessage, None]:
    """``events`` as SSE, holding a slot under ``key`` for as long as the stream is open."""
    with slots.held(key, per_key) as held:
        yield ServerSentEventMessage(data=None, comment="connected", retry=RETRY_MS)
        if not held:
            return
        try:
            async with contextlib.aclosing(events) as stream:
                async for event in stream:
                    if event is None:
                        yield ServerSentEventMessage(data=None, comment="keep-alive")  # no data: no event
                    else:
                        yield ServerSentEventMessage(event=event.kind, data=event.data, id=event.seq or None)
        except StoreUnavailable as error:  # the client reconnects with Last-Event-ID once the store is back
            log.warning("stream_ended", reason="store unavailable", error=str(error))

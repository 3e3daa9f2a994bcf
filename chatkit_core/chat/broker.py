"""Handoff events to the streams open in this process, and the base class of brokers that carry
them between instances (``[handoff] broker``, a URL whose scheme a plugin registers through
``register_brokers``; ``chatkit_redis`` registers Redis Streams).

The store's event log is the record (:mod:`chatkit_core.chat.handoff_store`); a broker only
hurries events to the streams that wait for them. A stream that misses one (a full queue, a
broker outage) reads the log again, so a broker may lose or repeat events without a visitor
or an operator losing or seeing twice a message.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import ClassVar

from chatkit_core.chat.handoff_store import StoredEvent

EVERY = "*"
"""The topic of every conversation's ``handoff`` events: the console's live list."""
QUEUE = 64
"""Events a stream may fall behind by before it reads the log instead."""


class Subscription:
    """The events of one topic for one open stream, in a small bounded queue."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[StoredEvent] = asyncio.Queue(QUEUE)
        self.overflowed = False
        """Events were dropped: the reader must catch up from the log."""
        self._woken = asyncio.Event()

    def put(self, event: StoredEvent) -> None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True
        self._woken.set()

    async def wait(self, timeout: float) -> list[StoredEvent]:
        """The events that arrived, waiting up to ``timeout`` seconds for one; [] on timeout."""
        if self.queue.empty() and not self.overflowed:
            self._woken.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._woken.wait(), timeout)
        events = []
        while not self.queue.empty():
            events.append(self.queue.get_nowait())
        return events


class Broker:
    """In-process fan-out: one instance needs nothing more. Subclasses registered for a URL scheme
    are built as ``cls(url)``, send :meth:`publish` to the other instances and call
    :meth:`deliver` with what they receive from them (not with their own events)."""

    schemes: ClassVar[tuple[str, ...]] = ()

    def __init__(self, url: str = "") -> None:
        self.url = url
        self._topics: dict[str, set[Subscription]] = {}

    async def start(self) -> None:
        """Connect and start receiving. Runs once at app start-up."""

    async def close(self) -> None:
        """Stop receiving and disconnect. Runs once at app shutdown."""

    async def publish(self, event: StoredEvent) -> None:
        """Reach every stream of ``event``'s conversation, on every instance."""
        self.deliver(event)

    def deliver(self, event: StoredEvent) -> None:
        """Hand ``event`` to the streams open in this process."""
        for subscription in self._topics.get(event.conversation_id, ()):
            subscription.put(event)
        if event.kind == "handoff":
            for subscription in self._topics.get(EVERY, ()):
                subscription.put(event)

    @contextlib.contextmanager
    def subscribe(self, topic: str) -> Iterator[Subscription]:
        """Events of conversation ``topic`` (or :data:`EVERY`) while the block runs."""
        subscription = Subscription()
        self._topics.setdefault(topic, set()).add(subscription)
        try:
            yield subscription
        finally:
            subscribers = self._topics.get(topic, set())
            subscribers.discard(subscription)
            if not subscribers:
                self._topics.pop(topic, None)

"""A provider's concurrency limit: a bounded first-come, first-served queue for its slots.

A local model server answers a few requests at once (llama.cpp's ``--parallel``,
``OLLAMA_NUM_PARALLEL``) and queues the rest where ChatKit cannot see them, so their
first-token timeouts run out while they merely wait. Holding them here instead lets the
visitor see their place in line, and the wait has its own limit.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Protocol


class QueueFull(Exception):
    """Every slot is busy and ``max_queue`` requests already wait."""


class Place(Protocol):
    """A request's hold on a provider: a slot once ``granted``, else a ``position`` in line."""

    @property
    def granted(self) -> bool: ...

    @property
    def position(self) -> int:
        """1: next in line; 0 once granted."""

    async def moved(self) -> None:
        """Wait until granted or moved up; raises QueueFull if the place in line was lost."""

    def leave(self) -> None:
        """Give the slot or the place back; safe to call twice, never blocks."""


class Gate(Protocol):
    """Where requests for one provider get a :class:`Place`: this instance's :class:`Slots`, or
    slots shared by several instances (:mod:`chatkit_core.chat.shared_slots`)."""

    async def join(self) -> Place:
        """A place that holds a slot at once or waits in line; raises QueueFull."""


class Slots:
    """At most ``limit`` holders at once (0: no limit); at most ``max_queue`` waiting, in order."""

    def __init__(self, limit: int, max_queue: int) -> None:
        self.limit = limit
        self.max_queue = max_queue
        self.busy = 0
        self.waiting: deque[Ticket] = deque()

    def enter(self) -> Ticket:
        """A ticket that holds a slot at once, or waits in line; raises QueueFull."""
        ticket = Ticket(self)
        if not self.limit or (self.busy < self.limit and not self.waiting):
            self.busy += 1
            ticket.granted = True
        elif len(self.waiting) >= self.max_queue:
            raise QueueFull
        else:
            self.waiting.append(ticket)
        return ticket

    async def join(self) -> Ticket:
        return self.enter()

    def _release(self) -> None:
        self.busy -= 1
        self._hand_over()

    def _hand_over(self) -> None:
        while self.waiting and (not self.limit or self.busy < self.limit):
            ticket = self.waiting.popleft()
            self.busy += 1
            ticket.granted = True
            ticket.wake()
        for ticket in self.waiting:  # everyone behind moved up
            ticket.wake()


class Ticket:
    """One request's place: ``granted`` once it holds a slot, else ``position`` in line (1 first)."""

    def __init__(self, slots: Slots) -> None:
        self.slots = slots
        self.granted = False
        self.left = False
        self._moved = asyncio.Event()

    @property
    def position(self) -> int:
        return 0 if self.granted else self.slots.waiting.index(self) + 1

    def wake(self) -> None:
        self._moved.set()

    async def moved(self) -> None:
        """Wait until the ticket is granted or moves up in line."""
        await self._moved.wait()
        self._moved.clear()

    def leave(self) -> None:
        """Give the slot back, or the place in line; safe to call twice."""
        if self.left:
            return
        self.left = True
        if self.granted:
            self.slots._release()
        else:
            self.slots.waiting.remove(self)
            self.slots._hand_over()

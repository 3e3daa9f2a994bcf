"""Concurrency store type ``redis``: a provider's slots and its line shared by every instance.

    [chain]
    concurrency_store = "redis://10.0.0.20:6379/0"   # also rediss://, valkey://, unix://
    concurrency_lease = 10                           # seconds a dead instance keeps its slots

Keys, per provider NAME (``{NAME}`` keeps them in one Redis Cluster slot):
``chatkit:slots:{NAME}:held``, ``:line``, ``:due`` and ``:seq`` (see :mod:`chatkit_redis.slots_lua`);
changes that move the line are published on ``chatkit:slots:{NAME}``.

A request takes a slot or a place in line in one script call and gives it back in another,
sent in the background so the answer never waits for it. Each instance renews the leases of
all its tickets in one call every third of the lease, and, while any of its visitors wait,
asks where they stand whenever the line moves (a published message) and every second anyway.

Redis unreachable: chats go on, each instance counting its own slots with the same limit
(what it does without a store), so the upstream may see up to N times ``max_concurrency``
for the length of the outage. One warning per outage; Redis is tried again a second later.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
import time
from collections.abc import Coroutine
from typing import Any

import structlog

from chatkit_core.chat.shared_slots import SlotStore
from chatkit_core.chat.slots import Place, QueueFull, Slots, Ticket
from chatkit_core.platform import redisclient
from chatkit_redis.slots_lua import ENTER, LEAVE, SYNC

log = structlog.get_logger("chatkit.redis")

TIMEOUT = 0.5
"""Seconds Redis has to answer a call before this instance counts its own slots."""
RETRY = 1.0
"""After a failed call, new requests count their own slots this long before Redis is tried again."""
POLL = 1.0
"""While visitors wait here, the longest between two questions to Redis about where they stand."""
MAX_CONNECTIONS = 20


class Unreachable(Exception):
    """Redis did not answer; the caller falls back to this instance's own slots."""


class RedisSlotStore(SlotStore):
    def __init__(self, url: str, lease: float) -> None:
        super().__init__(url, lease)
        redisclient.check_options(url, TIMEOUT, MAX_CONNECTIONS, "redis://127.0.0.1:6379/0")
        self.redis = redisclient.client(url, timeout=TIMEOUT, max_connections=MAX_CONNECTIONS)
        self.scripts = {name: self.redis.register_script(text)
                        for name, text in (("enter", ENTER), ("leave", LEAVE), ("sync", SYNC))}
        self.gates: dict[str, RedisGate] = {}
        self._ids = itertools.count()
        self._instance = secrets.token_hex(6)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._listener: asyncio.Task[None] | None = None
        self._down_until = 0.0
        self._outage = False

    def gate(self, provider: str, limit: int, max_queue: int) -> RedisGate:
        gate = RedisGate(self, provider, limit, max_queue)
        self.gates[gate.channel] = gate
        return gate

    async def start(self) -> None:
        if self.gates:
            self._listener = asyncio.create_task(self._listen())

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)
        for gate in self.gates.values():
            gate.close()
        if self._tasks:  # the releases just sent: what they miss, the leases end
            await asyncio.wait(self._tasks, timeout=2 * TIMEOUT)
        await self.redis.aclose()

    def new_id(self) -> str:
        return f"{self._instance}:{next(self._ids)}"

    @property
    def available(self) -> bool:
        """False for a moment after Redis failed to answer: new requests skip it meanwhile."""
        return time.monotonic() >= self._down_until

    async def call(self, script: str, keys: list[str], args: list[Any]) -> Any:
        """One script call, or :class:`Unreachable` (logged once per outage)."""
        from redis.exceptions import RedisError

        try:
            result = await self.scripts[script](keys=keys, args=args)
        except (RedisError, OSError) as error:
            self._down_until = time.monotonic() + RETRY
            if not self._outage:
                self._outage = True
                log.warning("concurrency_store_unreachable", error=type(error).__name__,
                            fallback="each instance counts its own slots")
            raise Unreachable from error
        if self._outage:
            self._outage = False
            log.info("concurrency_store_recovered")
        return result

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` in the background, kept until done (and awaited by :meth:`close`)."""
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _listen(self) -> None:
        """Wake the gates whose line moved, as Redis publishes it; reconnect after a failure."""
        from redis.exceptions import RedisError

        while True:
            pubsub = self.redis.pubsub()
            try:
                await pubsub.subscribe(*self.gates)
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=30)
                    if message is not None:
                        self.gates[message["channel"].decode()].nudge()
            except (RedisError, OSError, KeyError, UnicodeDecodeError) as error:
                log.debug("concurrency_store_listen_failed", error=type(error).__name__)
                await asyncio.sleep(RETRY)  # meanwhile waiting visitors still ask every POLL seconds
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()


class RedisGate:
    """One provider's shared slots, and this instance's tickets for them."""

    def __init__(self, store: RedisSlotStore, provider: str, limit: int, max_queue: int) -> None:
        self.store = store
        self.limit = limit
        self.max_queue = max_queue
        self.lease_ms = int(store.lease * 1000)
        base = "chatkit:slots:{" + provider + "}"
        self.channel = base
        self.keys = [base + ":held", base + ":line", base + ":due", base + ":seq"]
        self.local = Slots(limit, max_queue)
        """This instance's own slots, while Redis cannot be reached."""
        self.tickets: dict[str, RedisTicket] = {}
        self._nudged = asyncio.Event()
        self._keeper: asyncio.Task[None] | None = None

    async def join(self) -> Place:
        if not self.store.available:
            return self.local.enter()
        ticket_id = self.store.new_id()
        try:
            place = await self.store.call("enter", self.keys, [ticket_id, self.limit, self.max_queue, self.lease_ms,
                                                               self.channel])
        except Unreachable:
            self.release(ticket_id)  # in case the call got through before the answer was lost
            return self.local.enter()
        except asyncio.CancelledError:
            self.release(ticket_id)
            raise
        if place < 0:
            raise QueueFull
        ticket = self.tickets[ticket_id] = RedisTicket(self, ticket_id, place)
        if self._keeper is None or self._keeper.done():
            self._keeper = asyncio.create_task(self._keep())
        return ticket

    def release(self, ticket_id: str) -> None:
        self.store.spawn(self._release(ticket_id))

    def nudge(self) -> None:
        if any(not ticket.granted for ticket in self.tickets.values()):
            self._nudged.set()

    def close(self) -> None:
        for ticket in list(self.tickets.values()):
            ticket.leave()
        if self._keeper is not None:
            self._keeper.cancel()

    async def _release(self, ticket_id: str) -> None:
        try:
            granted = await self.store.call("leave", self.keys, [ticket_id, self.limit, self.lease_ms, self.channel])
        except Unreachable:
            return  # the lease ends on its own
        for given in granted:
            ticket = self.tickets.get(given.decode())
            if ticket is not None:
                ticket.move(0)

    async def _keep(self) -> None:
        """Renew this instance's leases, and learn where its waiting visitors stand, while it has any."""
        renewed = time.monotonic()
        while self.tickets:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(POLL, self.store.lease / 3)):
                    await self._nudged.wait()
            self._nudged.clear()
            waiting = [ticket for ticket in self.tickets.values() if not ticket.granted]
            if waiting or time.monotonic() - renewed >= self.store.lease / 3:
                renewed = time.monotonic()
                await self._sync(waiting)

    async def _sync(self, waiting: list[RedisTicket]) -> None:
        held = [ticket_id for ticket_id, ticket in self.tickets.items() if ticket.granted]
        args = [self.limit, self.lease_ms, self.channel, len(held), *held, *(ticket.id for ticket in waiting)]
        try:
            places = await self.store.call("sync", self.keys, args)
        except Unreachable:
            places = [-1] * len(waiting)
        for ticket, place in zip(waiting, places, strict=True):
            if ticket.left:
                continue
            if place < 0:  # Redis is down, or lost the ticket (restarted empty, or this instance stalled)
                ticket.fall_back(self.local)
            else:
                ticket.move(place)


class RedisTicket:
    """A place in the shared line or a shared slot; on this instance's own slots once it fell back."""

    def __init__(self, gate: RedisGate, ticket_id: str, place: int) -> None:
        self.gate = gate
        self.id = ticket_id
        self.left = False
        self._granted = place == 0
        self._position = place
        self._inner: Ticket | None = None
        self._refused = False
        self._moved = asyncio.Event()

    @property
    def granted(self) -> bool:
        return self._inner.granted if self._inner is not None else self._granted

    @property
    def position(self) -> int:
        return self._inner.position if self._inner is not None else self._position

    def move(self, place: int) -> None:
        """Redis says: a slot (0), or this place in line. A slot, once had, is kept: an answer
        sent before it was given may arrive after."""
        if not self._granted and place != self._position:
            self._granted, self._position = place == 0, place
            self._moved.set()

    async def moved(self) -> None:
        if self._inner is None and not self._refused:
            await self._moved.wait()
            self._moved.clear()
        elif self._inner is not None:
            await self._inner.moved()
        if self._refused:
            raise QueueFull

    def fall_back(self, local: Slots) -> None:
        """Wait on this instance's own slots instead (Redis unreachable, or the ticket lost)."""
        self.gate.tickets.pop(self.id, None)
        self.gate.release(self.id)
        try:
            self._inner = local.enter()
        except QueueFull:
            self._refused = True
        self._moved.set()

    def leave(self) -> None:
        if self.left:
            return
        self.left = True
        if self._inner is not None:
            self._inner.leave()
            return
        self.gate.tickets.pop(self.id, None)
        self.gate.release(self.id)

"""The Redis concurrency store in one process: several stores stand for several instances, on a
real redis-server."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from chatkit_redis import slots as slots_module
from chatkit_redis.slots import RedisSlotStore

from chatkit_core.chat.slots import Place, QueueFull, Slots

pytestmark = pytest.mark.redis


@contextlib.asynccontextmanager
async def instances(url: str, count: int, lease: float = 1.0) -> AsyncIterator[list[RedisSlotStore]]:
    stores = [RedisSlotStore(url, lease) for _ in range(count)]
    try:
        yield stores
    finally:
        for store in stores:
            await store.close()


async def gates(stores: list[RedisSlotStore], limit: int, max_queue: int = 100, name: str = "local"):
    made = [store.gate(name, limit, max_queue) for store in stores]
    for store in stores:
        await store.start()
    return made


async def until(predicate, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


async def counts(store: RedisSlotStore, name: str = "local") -> tuple[int, int]:
    """Slots held and visitors waiting, as Redis has them."""
    base = "chatkit:slots:{" + name + "}"
    return await store.redis.zcard(base + ":held"), await store.redis.zcard(base + ":line")


async def granted(place: Place, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not place.granted:
            await place.moved()


async def test_the_limit_holds_across_instances_and_the_line_is_one(redis_server) -> None:
    async with instances(redis_server.url, 3) as stores:
        first, second, third = await gates(stores, limit=2)
        held = [await first.join(), await second.join()]
        assert all(place.granted for place in held)
        waiting = [await third.join(), await first.join(), await second.join()]
        assert [place.position for place in waiting] == [1, 2, 3]
        assert not any(place.granted for place in waiting)
        held[0].leave()  # the head of the line, on another instance, gets the slot
        await granted(waiting[0])
        await until(lambda: [p.position for p in waiting[1:]] == [1, 2])
        waiting[1].leave()  # leaving the line moves those behind up
        await until(lambda: waiting[2].position == 1)
        held[1].leave()
        await granted(waiting[2])
        for place in (waiting[0], waiting[2]):
            place.leave()
        await until(lambda: not any(store._tasks for store in stores))
        assert await counts(stores[0]) == (0, 0)


async def test_the_line_is_first_come_first_served_across_instances(redis_server) -> None:
    async with instances(redis_server.url, 4) as stores:
        made = await gates(stores, limit=1)
        holder = await made[0].join()
        line = [await made[n % 4].join() for n in range(8)]
        order: list[int] = []

        async def visitor(index: int, place: Place) -> None:
            await granted(place, timeout=10)
            order.append(index)
            await asyncio.sleep(0.02)
            place.leave()

        visitors = [asyncio.create_task(visitor(index, place)) for index, place in enumerate(line)]
        holder.leave()
        await asyncio.gather(*visitors)
        assert order == list(range(8))


async def test_the_line_is_bounded_across_instances(redis_server) -> None:
    async with instances(redis_server.url, 2) as stores:
        first, second = await gates(stores, limit=1, max_queue=2)
        places = [await first.join(), await second.join(), await first.join()]
        with pytest.raises(QueueFull):
            await second.join()
        for place in places:
            place.leave()


async def test_an_instance_that_stops_renewing_loses_its_slots_a_lease_later(redis_server) -> None:
    async with instances(redis_server.url, 2, lease=1.0) as stores:
        crashed, alive = await gates(stores, limit=1)
        held = await crashed.join()
        assert held.granted
        assert crashed._keeper is not None
        crashed._keeper.cancel()  # it neither renews nor gives back: as if the process had died
        crashed.tickets.clear()
        waiting = await alive.join()
        assert waiting.position == 1
        loop = asyncio.get_running_loop()
        began = loop.time()
        await granted(waiting, timeout=5)
        assert 0.5 < loop.time() - began < 3.0  # the lease (1 s), found by the waiter's next question
        waiting.leave()


async def test_long_answers_keep_their_slot_past_the_lease(redis_server) -> None:
    async with instances(redis_server.url, 2, lease=1.0) as stores:
        first, second = await gates(stores, limit=1)
        held = await first.join()
        waiting = await second.join()
        await asyncio.sleep(2.5)  # two and a half leases: renewed, not lost
        assert held.granted and not waiting.granted and waiting.position == 1
        held.leave()
        await granted(waiting)
        waiting.leave()


async def test_a_cancelled_join_leaves_nothing_behind(redis_server) -> None:
    async with instances(redis_server.url, 1) as stores:
        (gate,) = await gates(stores, limit=1)
        joining = asyncio.create_task(gate.join())
        await asyncio.sleep(0)
        joining.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await joining
        await until(lambda: not stores[0]._tasks)
        place = await gate.join()
        assert place.granted
        place.leave()


async def test_with_redis_down_each_instance_counts_its_own_slots(redis_server) -> None:
    async with instances(redis_server.url, 2) as stores:
        first, second = await gates(stores, limit=1)
        redis_server.stop()
        places = [await first.join(), await first.join(), await second.join()]
        # Each instance's own line: one slot each, a second visitor on the first waits.
        assert [place.granted for place in places] == [True, False, True]
        assert isinstance(first.local, Slots) and first.local.busy == 1
        places[0].leave()
        await granted(places[1])
        for place in places[1:]:
            place.leave()
        redis_server.start()
        await asyncio.sleep(1.1)  # past the retry pause: Redis is asked again
        held = await first.join()
        waiting = await second.join()
        assert held.granted and waiting.position == 1  # shared again
        held.leave()
        await granted(waiting)
        waiting.leave()


async def test_waiting_visitors_move_to_their_own_instance_when_redis_goes(redis_server) -> None:
    async with instances(redis_server.url, 2) as stores:
        first, second = await gates(stores, limit=1)
        held = await first.join()
        waiting = await second.join()
        assert waiting.position == 1
        redis_server.stop()
        await granted(waiting, timeout=5)  # the second instance's own slot is free
        held.leave()
        waiting.leave()


async def test_a_freed_slot_reaches_a_waiter_on_another_instance_as_published(redis_server, monkeypatch) -> None:
    monkeypatch.setattr(slots_module, "POLL", 30.0)  # no periodic question: only the published message can wake it
    async with instances(redis_server.url, 2, lease=60) as stores:
        first, second = await gates(stores, limit=1)
        held = await first.join()
        waiting = await second.join()
        await asyncio.sleep(0.2)  # the listener has subscribed
        held.leave()
        await granted(waiting, timeout=5)
        waiting.leave()


async def test_waiters_lost_by_a_redis_that_restarted_empty_carry_on_here(redis_server) -> None:
    async with instances(redis_server.url, 2) as stores:
        first, second = await gates(stores, limit=1)
        held = await first.join()
        waiting = await second.join()
        await stores[0].redis.flushall()  # what a restart without persistence leaves
        await granted(waiting, timeout=5)  # lost in Redis: the second instance's own slot
        assert isinstance(second.local, Slots) and second.local.busy == 1
        held.leave()
        waiting.leave()

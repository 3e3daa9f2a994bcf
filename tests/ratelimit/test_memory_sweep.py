"""The memory storage's sweep: expired windows are freed in the loop, live ones are kept."""

from __future__ import annotations

import asyncio

from chatkit_ratelimit.storage import SweepingMemoryStorage
from limits import parse
from limits.aio.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter


async def sweep(storage: SweepingMemoryStorage) -> None:
    await storage._MemoryStorage__expire_events()  # type: ignore[attr-defined]


async def test_a_sweep_frees_expired_windows_and_keeps_live_ones():
    storage = SweepingMemoryStorage(wrap_exceptions=True)
    moving = MovingWindowRateLimiter(storage)
    short, long = parse("5/second"), parse("5/hour")
    assert await moving.hit(short, "gone")
    assert await moving.hit(long, "kept")
    await asyncio.sleep(1.1)
    await sweep(storage)
    assert list(storage.events) == [long.key_for("kept")]
    assert (await moving.get_window_stats(long, "kept")).remaining == 4


async def test_a_sweep_frees_expired_fixed_windows():
    storage = SweepingMemoryStorage(wrap_exceptions=True)
    fixed = FixedWindowRateLimiter(storage)
    assert await fixed.hit(parse("5/second"), "gone")
    assert await fixed.hit(parse("5/hour"), "kept")
    await asyncio.sleep(1.1)
    await sweep(storage)
    assert list(storage.storage) == [parse("5/hour").key_for("kept")]


async def test_a_sweep_leaves_a_key_in_use_for_the_next_one():
    storage = SweepingMemoryStorage(wrap_exceptions=True)
    moving = MovingWindowRateLimiter(storage)
    item = parse("5/second")
    assert await moving.hit(item, "busy")
    await asyncio.sleep(1.1)
    key = item.key_for("busy")
    async with storage.locks[key]:
        await sweep(storage)
        assert key in storage.events
    await sweep(storage)
    assert key not in storage.events


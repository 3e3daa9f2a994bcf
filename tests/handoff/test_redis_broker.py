"""The Redis Streams broker between two instances (two brokers on one real redis-server): events
cross within a second, an instance's own events are not handed back to it twice, and the
reader carries on after Redis restarts. A stream whose store goes down ends quietly."""

from __future__ import annotations

import asyncio
import time

from chatkit_redis import RedisBroker

from chatkit_core.chat.handoff_store import StoredEvent


def event(seq: int, cid: str = "conv_a", kind: str = "message") -> StoredEvent:
    return StoredEvent(conversation_id=cid, seq=seq, kind=kind, audience="all", data="{}")


async def test_events_cross_instances_and_survive_a_redis_restart(redis_server):
    one, two = RedisBroker(redis_server.url), RedisBroker(redis_server.url)
    await one.start()
    await two.start()
    try:
        with two.subscribe("conv_a") as far, one.subscribe("conv_a") as near, two.subscribe("*") as listing:
            await asyncio.sleep(0.2)  # both readers are at the stream's end
            began = time.monotonic()
            await one.publish(event(1))
            assert [e.seq for e in await far.wait(2)] == [1] and time.monotonic() - began < 1.0
            await asyncio.sleep(0.3)
            assert [e.seq for e in await near.wait(0.01)] == [1]  # delivered here once, not again from Redis
            await one.publish(event(2, kind="handoff"))
            assert [e.kind for e in await listing.wait(2)] == ["handoff"]
            redis_server.stop()
            await one.publish(event(3))  # Redis is down: only this process hears it; nothing raises
            redis_server.start()
            for _ in range(40):
                await one.publish(event(4))
                if any(e.seq == 4 for e in await far.wait(0.25)):
                    break
            else:
                raise AssertionError("the reader did not come back after Redis restarted")
    finally:
        await one.close()
        await two.close()


async def test_a_stream_ends_quietly_when_the_store_goes_down(make_client, redis_server):
    from tests.core.conftest import new_session
    from tests.handoff.conftest import handoff_config

    config = handoff_config('stream_seconds = "5s"\n') + f'[sessions]\nstore = "redis"\nurl = "{redis_server.url}"\n'
    async with make_client(config) as client:
        session = await new_session(client)
        await client.post(f"/api/session/{session}/handoff")
        stream = asyncio.create_task(client.get(f"/api/session/{session}/events"))
        await asyncio.sleep(0.5)
        redis_server.stop()
        response = await asyncio.wait_for(stream, 10)
        assert response.status_code == 200 and "event: handoff" in response.text

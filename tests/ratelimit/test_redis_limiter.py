"""The limiter on a real redis-server: exact across instances, and what a Redis outage does."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis.asyncio
from structlog.testing import capture_logs

from chatkit_core.chat.ratelimit import LimiterUnavailable
from tests.ratelimit.limiters import limiter, parse_header

pytestmark = pytest.mark.redis


@pytest.mark.parametrize("strategy", ["moving-window", "sliding-window", "fixed-window"])
async def test_200_concurrent_hits_admit_exactly_the_limit(redis_server, strategy):
    # Hour-long windows, as in test_limiter: the sliding-window counter is exact inside a window.
    async with limiter(storage=redis_server.url, strategy=strategy, per_ip=["25/hour", "1000/day"]) as limits:
        decisions = await asyncio.gather(*(limits.hit("create-session", "203.0.113.7") for _ in range(200)))
        assert sum(d.allowed for d in decisions) == 25
        assert parse_header(decisions[-1].headers["RateLimit"])["per-ip-day"]["r"] == 975


async def test_two_instances_share_one_limit(redis_server):
    table = {"storage": redis_server.url, "per_ip": ["30/minute"], "per_session": ["1000/hour"]}
    async with limiter(**table) as first, limiter(**table) as second:
        decisions = await asyncio.gather(*(
            (first if n % 2 else second).hit("chat", "203.0.113.7", "conversation") for n in range(200)
        ))
        assert sum(d.allowed for d in decisions) == 30


async def test_counts_survive_a_restarted_limiter(redis_server):
    async with limiter(storage=redis_server.url, per_ip=["3/minute"]) as limits:
        assert all([(await limits.hit("chat", "192.0.2.1")).allowed for _ in range(2)])
    async with limiter(storage=redis_server.url, per_ip=["3/minute"]) as limits:
        assert [(await limits.hit("chat", "192.0.2.1")).allowed for _ in range(2)] == [True, False]


async def test_storage_never_sees_session_ids(redis_server):
    secret = "k3Y-very-secret-session-id-0123456789abcdef"
    async with limiter(storage=redis_server.url, per_session=["5/minute"]) as limits:
        await limits.hit("chat", "192.0.2.1", secret)
    client = redis.asyncio.Redis.from_url(redis_server.url)
    keys = [key.decode() for key in await client.keys("*")]
    await client.aclose()
    assert keys
    assert all(key.startswith("chatkit:ratelimit:") for key in keys)
    assert not any(secret in key for key in keys)


async def test_fail_open_admits_logs_and_recovers(redis_server):
    async with limiter(storage=redis_server.url, per_ip=["2/minute"], timeout=0.3) as limits:
        assert (await limits.hit("chat", "192.0.2.1")).allowed
        assert (await limits.health()).status == "up"

        redis_server.stop()
        with capture_logs() as logs:
            during = [await limits.hit("chat", "192.0.2.1") for _ in range(5)]
        assert all(d.allowed and d.headers == {} for d in during)
        warnings = [entry for entry in logs if entry["log_level"] == "warning"]
        assert [w["event"] for w in warnings] == ["rate_limit_storage_unreachable"]  # once per outage
        assert warnings[0]["on_storage_error"] == "open"
        health = await limits.health()
        assert health.status == "down"
        assert "rate limit storage unreachable" in health.detail
        assert str(redis_server.port) not in health.detail  # /health is public

        redis_server.start()  # same port, empty
        assert (await limits.health()).status == "up"
        with capture_logs() as logs:
            back = [(await limits.hit("chat", "192.0.2.1")).allowed for _ in range(3)]
        assert back == [True, True, False]
        assert not [entry for entry in logs if entry["log_level"] == "warning"]


async def test_fail_closed_refuses_while_down_and_recovers(redis_server):
    async with limiter(storage=redis_server.url, on_storage_error="closed", timeout=0.3) as limits:
        assert (await limits.hit("create-session", "192.0.2.1")).allowed
        redis_server.stop()
        with pytest.raises(LimiterUnavailable):
            await limits.hit("create-session", "192.0.2.1")
        assert (await limits.health()).status == "down"
        redis_server.start()
        assert (await limits.hit("create-session", "192.0.2.1")).allowed
        assert (await limits.health()).status == "up"


async def test_a_hung_redis_costs_at_most_the_timeout(redis_server):
    async with limiter(storage=redis_server.url, timeout=0.3) as limits:
        assert (await limits.hit("chat", "192.0.2.1")).allowed
        redis_server.pause()
        try:
            started = time.monotonic()
            assert (await limits.hit("chat", "192.0.2.1")).allowed
            assert time.monotonic() - started < 1.0
            assert (await limits.health()).status == "down"
        finally:
            redis_server.resume()
        assert (await limits.hit("chat", "192.0.2.1")).allowed
        assert (await limits.health()).status == "up"


async def test_a_burst_waits_for_pooled_connections(redis_server):
    # 500 hits share 4 connections: they queue for one, which a busy machine may make take longer
    # than the default half second; the bound is wide so the test asserts waiting, not speed.
    async with limiter(storage=redis_server.url, max_connections=4, timeout=10, per_ip=["5/minute"]) as limits:
        with capture_logs() as logs:
            decisions = await asyncio.gather(*(limits.hit("chat", f"10.1.{n // 250}.{n % 250}") for n in range(500)))
        assert not [entry for entry in logs if entry["log_level"] == "warning"]
        assert all(d.allowed and "RateLimit" in d.headers for d in decisions)  # counted, not failed open


async def test_changing_the_strategy_meets_no_old_data(redis_server):
    for strategy in ("moving-window", "fixed-window", "sliding-window", "moving-window"):
        async with limiter(storage=redis_server.url, strategy=strategy, per_ip=["2/minute"]) as limits:
            with capture_logs() as logs:
                decisions = [await limits.hit("chat", "192.0.2.1") for _ in range(3)]
            assert not logs
            assert [d.allowed for d in decisions][-1] is False


async def test_a_quick_redis_restart_costs_no_request(redis_server):
    """Pooled connections that the old server closed are replaced, not reported as an outage."""
    async with limiter(storage=redis_server.url, on_storage_error="closed", per_ip=["5/minute"]) as limits:
        await asyncio.gather(*(limits.hit("chat", f"192.0.2.{n}") for n in range(20)))  # fill the pool
        redis_server.stop()
        redis_server.start()
        with capture_logs() as logs:
            decisions = await asyncio.gather(*(limits.hit("chat", f"192.0.2.{n}") for n in range(20)))
        assert all(d.allowed for d in decisions)
        assert not logs


async def test_across_instances_a_refused_request_spends_none_of_its_other_limits(redis_server):
    # The moving windows are checked and spent in one script, so a race across instances
    # for the last per-session unit never takes a unit of the per-IP limit.
    table = {"storage": redis_server.url, "per_ip": ["100/hour"], "per_session": ["5/hour"]}
    async with limiter(**table) as first, limiter(**table) as second:
        decisions = await asyncio.gather(*(
            (first if n % 2 else second).hit("chat", "203.0.113.7", "conversation") for n in range(60)
        ))
        assert sum(d.allowed for d in decisions) == 5
        other = await first.hit("chat", "203.0.113.7", "another")
    assert parse_header(other.headers["RateLimit"])["per-ip-hour"]["r"] == 94


async def test_the_library_reads_the_windows_the_script_spends(redis_server):
    async with limiter(storage=redis_server.url, per_ip=["4/hour"]) as limits:
        for _ in range(3):
            await limits.hit("chat", "192.0.2.1")
        item = limits._policies["ip"][0].item
        stats = await limits._strategy.get_window_stats(item, "moving-window", "ip", "192.0.2.1")
    assert stats.remaining == 1 and 3590 < stats.reset_time - time.time() <= 3600

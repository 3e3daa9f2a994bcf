"""The limiter with in-process memory storage: exact counts, all-or-nothing, headers, Retry-After."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.ratelimit.limiters import limiter, parse_header

STRATEGIES = ["moving-window", "sliding-window", "fixed-window"]


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_200_concurrent_hits_admit_exactly_the_limit(strategy):
    # Hour-long windows: the sliding-window counter is exact only inside a window, and a
    # sub-second test crossing an hour boundary is rare enough.
    async with limiter(strategy=strategy, per_ip=["25/hour", "1000/day"]) as limits:
        decisions = await asyncio.gather(*(limits.hit("create-session", "203.0.113.7") for _ in range(200)))
        assert sum(d.allowed for d in decisions) == 25
        # Refused requests spent nothing: the daily limit counted only the 25 admitted.
        state = parse_header(decisions[-1].headers["RateLimit"])
        assert state["per-ip-day"]["r"] == 1000 - 25


async def test_refused_by_a_later_limit_spends_no_earlier_one():
    async with limiter(per_ip=["1000/hour", "3/minute"]) as limits:
        results = [await limits.hit("chat", "198.51.100.1") for _ in range(10)]
        assert [d.allowed for d in results] == [True] * 3 + [False] * 7
        assert parse_header(results[-1].headers["RateLimit"])["per-ip-hour"]["r"] == 997


async def test_clients_are_counted_apart():
    async with limiter(per_ip=["2/minute"]) as limits:
        for ip in ("192.0.2.1", "192.0.2.2", "2001:db8::1"):
            assert [(await limits.hit("chat", ip)).allowed for _ in range(3)] == [True, True, False]


async def test_ipv6_clients_are_counted_per_network():
    async with limiter(per_ip=["2/minute"]) as limits:
        same_64 = ["2001:db8:1:2::1", "2001:db8:1:2::dead:beef", "2001:db8:1:2:ffff::9"]
        assert [(await limits.hit("chat", ip)).allowed for ip in same_64] == [True, True, False]
        assert (await limits.hit("chat", "2001:db8:1:3::1")).allowed  # the next /64
        # An IPv4-mapped address is the IPv4 client.
        assert (await limits.hit("chat", "192.0.2.50")).allowed
        assert (await limits.hit("chat", "::ffff:192.0.2.50")).allowed
        assert not (await limits.hit("chat", "192.0.2.50")).allowed
    async with limiter(per_ip=["1/minute"], ipv6_prefix=128) as limits:
        assert (await limits.hit("chat", "2001:db8::1")).allowed
        assert (await limits.hit("chat", "2001:db8::2")).allowed


async def test_per_session_limits_apply_to_chat_only():
    async with limiter(per_ip=["100/minute"], per_session=["2/minute"]) as limits:
        # One conversation, several addresses: the session limit holds.
        chats = [await limits.hit("chat", f"192.0.2.{n}", "session-a") for n in range(4)]
        assert [d.allowed for d in chats] == [True, True, False, False]
        assert (await limits.hit("chat", "192.0.2.1", "session-b")).allowed
        # create-session carries no session and is limited per IP only.
        assert all([(await limits.hit("create-session", "192.0.2.9")).allowed for _ in range(5)])


async def test_route_costs_and_unlimited_routes():
    async with limiter(per_ip=["5/minute"], routes={"chat": 2}) as limits:
        assert [(await limits.hit("chat", "192.0.2.1")).allowed for _ in range(3)] == [True, True, False]
        assert await limits.hit("create-session", "192.0.2.1") is None


async def test_empty_limit_lists_limit_nothing():
    async with limiter(per_ip=[], per_session=["1/minute"]) as limits:
        assert await limits.hit("create-session", "192.0.2.1") is None
        assert (await limits.hit("chat", "192.0.2.1", "s1")).allowed
        assert not (await limits.hit("chat", "192.0.2.1", "s1")).allowed


async def test_headers_follow_the_ietf_draft():
    async with limiter(per_ip=["3/minute", "100/hour"], per_session=["2 per 10 seconds"]) as limits:
        decision = await limits.hit("chat", "192.0.2.1", "s1")
        assert decision.headers["RateLimit-Policy"] == (
            '"per-ip-minute";q=3;w=60, "per-ip-hour";q=100;w=3600, "per-session-10second";q=2;w=10'
        )
        state = parse_header(decision.headers["RateLimit"])
        assert [item["r"] for item in state.values()] == [2, 99, 1]
        assert 59 <= state["per-ip-minute"]["t"] <= 60
        assert 3599 <= state["per-ip-hour"]["t"] <= 3600
        assert 9 <= state["per-session-10second"]["t"] <= 10

        create = await limits.hit("create-session", "192.0.2.1")
        assert create.headers["RateLimit-Policy"] == '"per-ip-minute";q=3;w=60, "per-ip-hour";q=100;w=3600'
        assert parse_header(create.headers["RateLimit"])["per-ip-minute"]["r"] == 1


async def test_refusal_carries_headers_with_nothing_left():
    async with limiter(per_ip=["1/minute"]) as limits:
        await limits.hit("chat", "192.0.2.1")
        refused = await limits.hit("chat", "192.0.2.1")
        assert not refused.allowed
        state = parse_header(refused.headers["RateLimit"])["per-ip-minute"]
        assert state["r"] == 0
        assert state["t"] == refused.retry_after
        assert 59 <= refused.retry_after <= 60


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_waiting_retry_after_is_enough(strategy):
    async with limiter(strategy=strategy, per_ip=["2 per 2 seconds"]) as limits:
        assert (await limits.hit("chat", "192.0.2.1")).allowed
        assert (await limits.hit("chat", "192.0.2.1")).allowed
        refused = await limits.hit("chat", "192.0.2.1")
        assert not refused.allowed
        assert isinstance(refused.retry_after, int)
        assert 1 <= refused.retry_after <= 2
        await asyncio.sleep(refused.retry_after)
        assert (await limits.hit("chat", "192.0.2.1")).allowed


async def test_retry_after_is_rounded_up():
    async with limiter(per_ip=["1 per 3 seconds"]) as limits:
        await limits.hit("chat", "192.0.2.1")
        await asyncio.sleep(1.2)
        started = time.time()
        refused = await limits.hit("chat", "192.0.2.1")
        # 1.8 s remain: a client told "1" would come back too early.
        assert refused.retry_after == 2
        assert time.time() - started < 0.5


async def test_memory_storage_is_healthy():
    async with limiter() as limits:
        assert (await limits.health()).status == "up"

"""The ``redis`` answer cache type on a real redis-server: shared, bounded, and never fatal."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

from chatkit_redis.cache import RedisCache, RedisCacheOptions
from redis.asyncio import Redis
from structlog.testing import capture_logs

from chatkit_core.http.testing import app_client
from tests.cache.conftest import cache_config
from tests.cache.test_answers import chat, stream
from tests.fakes.server import Script


def redis_cache(url: str, extra: str = "") -> str:
    return f'enabled = true\ntype = "redis"\nurl = "{url}"\n{extra}'


async def test_instances_share_answers_through_redis(fake_ollama, redis_server):
    fake_ollama.script(Script(text="We open at nine."))
    text = cache_config(fake_ollama.url, redis_cache(redis_server.url))
    async with app_client(text) as one, app_client(text) as two:
        first = await chat(one)
        shared = await chat(two)
        streamed = await stream(two)
    assert first["cached"] is False and shared["cached"] is True and shared["content"] == "We open at nine."
    assert [name for name, _ in streamed] == ["start", "delta", "done"] and streamed[-1][1]["message"]["cached"]
    assert len(fake_ollama.chat_requests()) == 1


async def test_redis_entries_carry_the_ttl_and_the_size_bound(redis_server):
    cache = RedisCache(RedisCacheOptions(enabled=True, type="redis", url=redis_server.url, ttl="1m", max_entries=2,
                                         key_prefix="t:"))
    try:
        for key in "abc":
            await cache.set(key, key.encode())
        assert [await cache.get(key) for key in "abc"] == [None, b"b", b"c"]
        raw = Redis.from_url(redis_server.url)
        assert 0 < await raw.pttl("t:answer:c") <= 60_000 and await raw.zcard("t:answers") == 2
        await cache.clear()
        assert await cache.get("c") is None and await raw.exists("t:answers") == 0
        await raw.aclose()
        short = RedisCache(RedisCacheOptions(enabled=True, type="redis", url=redis_server.url, ttl=0.2))
        await short.set("x", b"1")
        await asyncio.sleep(0.3)
        assert await short.get("x") is None
        await short.close()
    finally:
        await cache.close()


async def test_redis_down_is_a_miss_and_the_chat_still_answers(fake_ollama, redis_server):
    fake_ollama.script(Script(text="One."), Script(text="Two."), Script(text="Three."), Script(text="Four."))
    async with app_client(cache_config(fake_ollama.url, redis_cache(redis_server.url))) as client:
        assert (await chat(client))["content"] == "One."
        redis_server.stop()
        with capture_logs() as logs:
            down = [await chat(client), await stream(client)]
        health = (await client.get("/health")).json()
        redis_server.start()
        stored = await chat(client)
        hit = await chat(client)
        after = (await client.get("/health")).json()
    assert down[0] == {**down[0], "content": "Two.", "cached": False}
    assert down[1][-1][1]["message"]["content"] == "Three."
    assert [entry["event"] for entry in logs if "answer_cache" in entry["event"]] == ["answer_cache_unavailable"]
    assert health["status"] == "degraded" and health["answerCache"]["status"] == "down"
    assert stored["content"] == "Four." and hit == {**hit, "content": "Four.", "cached": True}
    assert after["answerCache"] == {"type": "redis", "status": "up", "detail": ""}
    assert len(fake_ollama.chat_requests()) == 4


async def test_a_hung_redis_costs_at_most_the_timeout(fake_ollama, redis_server):
    fake_ollama.script(Script(text="One."))
    text = cache_config(fake_ollama.url, redis_cache(redis_server.url, "timeout = 0.2"))
    async with app_client(text) as client:
        redis_server.pause()
        try:
            answer = await asyncio.wait_for(chat(client), 5)
        finally:
            redis_server.resume()
    assert answer["content"] == "One." and answer["cached"] is False


def chatkit(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "chatkit_core", *args], capture_output=True, text=True, timeout=60,
                          env=env)


def test_chatkit_chat_takes_the_same_path(fake_ollama, redis_server, tmp_path):
    fake_ollama.script(Script(text="We open at nine."))
    path = tmp_path / "chatkit.toml"
    path.write_text(cache_config(fake_ollama.url, redis_cache(redis_server.url)))
    first, again = (chatkit("chat", "--config", str(path), "Opening hours?") for _ in range(2))
    assert first.returncode == again.returncode == 0, first.stderr + again.stderr
    assert first.stdout == again.stdout == "We open at nine.\n"
    assert "[local / llama3.2]" in again.stderr
    assert len(fake_ollama.chat_requests()) == 1


def test_config_check_shows_and_validates_the_cache(tmp_path, redis_server):
    path = tmp_path / "chatkit.toml"
    base = '[chain]\norder = ["demo"]\n[providers.demo]\ntype = "canned"\n[cache]\n'
    path.write_text(base + redis_cache(redis_server.url, 'ttl = "10m"'))
    shown = chatkit("config", "check", "--config", str(path))
    assert shown.returncode == 0, shown.stderr
    assert "answer cache: redis (ttl 600s, max_entries 10000)" in shown.stdout
    for table, message in [('enabled = true\nttl = "soon"', "error: cache.ttl:"),
                           ('enabled = true\ntype = "disk"', "error: cache.type: unknown answer cache type 'disk'"),
                           ('enabled = true\ntype = "redis"\nurl = "http://x"', "error: cache.url: not a Redis URL"),
                           ('enabled = true\nmax_entries = 0',
                            "error: cache.max_entries: max_entries must be at least 1"),
                           ('enabled = "yes"', "error: cache.enabled: must be true or false"),
                           ('enabled = true\nsize = 3', "error: cache: unknown key `size`")]:
        path.write_text(base + table)
        refused = chatkit("config", "check", "--config", str(path))
        assert refused.returncode == 1 and refused.stderr.startswith(message), refused.stderr
    path.write_text(base + 'enabled = true\ntype = "redis"')
    from_env = chatkit("config", "check", "--config", str(path), env={**os.environ, "REDIS_URL": redis_server.url})
    assert from_env.returncode == 0 and "answer cache: redis" in from_env.stdout, from_env.stderr

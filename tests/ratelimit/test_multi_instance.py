"""Two real backend processes sharing one redis-server for rate limits and sessions."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.server import running_server

pytestmark = pytest.mark.redis


def config(redis_url: str, per_ip: str = "1000/minute", per_session: str = "1000/minute",
           trusted_proxies: str = "", delay: float = 0.0, on_storage_error: str = "open") -> str:
    return f"""
[server]
trusted_proxies = [{trusted_proxies}]

[providers.demo]
type = "canned"
replies = []
chunk_chars = 4
delay = {delay}

[rate_limit]
type = "limits"
storage = "{redis_url}"
on_storage_error = "{on_storage_error}"
per_ip = ["{per_ip}"]
per_session = ["{per_session}"]

[sessions]
store = "redis"
url = "{redis_url}"
"""


@contextlib.contextmanager
def two_backends(config_toml: str) -> Iterator[tuple[str, str]]:
    with running_server(config_toml) as first, running_server(config_toml) as second:
        yield first, second


def create(base: str, **headers: str) -> httpx.Response:
    return httpx.post(base + "/api/create-session", json={}, headers=headers)


def chat(base: str, session_id: str, text: str) -> httpx.Response:
    return httpx.post(base + "/api/chat", json={"sessionId": session_id, "message": text}, timeout=30)


def conversation(*questions: str) -> list[tuple[str, str]]:
    """The history after ``questions``, each answered by the canned provider quoting it."""
    turns = []
    for question in questions:
        turns += [("user", question), ("assistant", f'You said: "{question}".')]
    return turns


def history(base: str, session_id: str) -> list[tuple[str, str]]:
    response = httpx.get(f"{base}/api/session/{session_id}/messages")
    assert response.status_code == 200, response.text
    # The canned reply quotes the question, then explains itself; the quote is what identifies it.
    return [(m["role"], m["content"].split(" This is")[0]) for m in response.json()["messages"]]


def assert_rate_limited(response: httpx.Response) -> None:
    assert response.status_code == 429
    error = response.json()["error"]
    assert error["code"] == "rate_limited"
    assert isinstance(error["retryAfter"], int)
    assert 1 <= error["retryAfter"] <= 60
    assert response.headers["Retry-After"] == str(error["retryAfter"])
    assert error["message"]
    assert "RateLimit" in response.headers
    assert "RateLimit-Policy" in response.headers


async def burst(urls: list[str], count: int, headers: dict[str, str] | None = None) -> list[httpx.Response]:
    async with httpx.AsyncClient(timeout=30) as client:
        return await asyncio.gather(*(
            client.post(urls[n % len(urls)] + "/api/create-session", json={}, headers=headers or {})
            for n in range(count)
        ))


def test_the_per_ip_limit_holds_across_instances(redis_server):
    with two_backends(config(redis_server.url, per_ip="12/minute")) as (first, second):
        responses = asyncio.run(burst([first, second], 60))
        statuses = [r.status_code for r in responses]
        assert statuses.count(201) == 12
        assert statuses.count(429) == 48
        for response in responses:
            if response.status_code == 429:
                assert_rate_limited(response)
            else:
                assert response.headers["RateLimit-Policy"] == '"per-ip-minute";q=12;w=60'


def test_the_per_session_limit_holds_across_instances(redis_server):
    with two_backends(config(redis_server.url, per_session="3/minute")) as (first, second):
        session_id = create(first).json()["sessionId"]
        replies = [chat(base, session_id, f"question {n}") for n, base in enumerate([first, second] * 3)]
        assert [r.status_code for r in replies] == [200, 200, 200, 429, 429, 429]
        assert_rate_limited(replies[-1])
        assert len(history(second, session_id)) == 6  # refused messages were not stored


def test_a_conversation_moves_between_instances(redis_server):
    with two_backends(config(redis_server.url)) as (first, second):
        session_id = create(first).json()["sessionId"]
        assert chat(first, session_id, "Hello from the first").status_code == 200
        assert chat(second, session_id, "Hello from the second").status_code == 200
        expected = conversation("Hello from the first", "Hello from the second")
        assert history(first, session_id) == expected
        assert history(second, session_id) == expected
        assert httpx.delete(f"{second}/api/session/{session_id}").status_code == 204
        assert httpx.get(f"{first}/api/session/{session_id}/messages").status_code == 404


def _server_pid(base_url: str) -> int:
    """The pid of the ``chatkit serve`` process listening on ``base_url``'s port."""
    port = base_url.rsplit(":", 1)[1]
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            if b"chatkit_core" in argv and b"serve" in argv and argv[argv.index(b"--port") + 1] == port.encode():
                return int(entry.name)
    raise LookupError(f"no chatkit serve process on port {port}")


def test_killing_one_instance_mid_conversation_loses_nothing(redis_server):
    with two_backends(config(redis_server.url, delay=0.03)) as (first, second):
        session_id = create(first).json()["sessionId"]
        assert chat(first, session_id, "One").status_code == 200
        assert chat(first, session_id, "Two").status_code == 200
        with httpx.stream("POST", first + "/api/chat", timeout=30,
                          json={"sessionId": session_id, "message": "Three", "stream": True}) as stream:
            assert "per-session-minute" in stream.headers["RateLimit"]  # streamed answers carry them too
            lines = stream.iter_lines()
            assert next(line for line in lines if line.startswith("event: delta"))
            os.kill(_server_pid(first), signal.SIGKILL)
            with pytest.raises(httpx.HTTPError):
                for _ in lines:
                    pass
        # Everything acknowledged before the crash is on the other instance, which carries on.
        assert history(second, session_id) == [*conversation("One", "Two"), ("user", "Three")]
        assert chat(second, session_id, "Still there?").status_code == 200
        assert history(second, session_id)[-2:] == conversation("Still there?")


def test_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored(redis_server):
    with running_server(config(redis_server.url, per_ip="3/minute")) as base:
        statuses = [create(base, **{"X-Forwarded-For": f"198.51.100.{n}"}).status_code for n in range(6)]
        assert statuses == [201, 201, 201, 429, 429, 429]


def test_forwarded_for_from_a_trusted_proxy_is_honoured(redis_server):
    toml = config(redis_server.url, per_ip="2/minute", trusted_proxies='"127.0.0.1"')
    with running_server(toml) as base:
        for client in ("203.0.113.1", "203.0.113.2"):
            statuses = [create(base, **{"X-Forwarded-For": client}).status_code for _ in range(3)]
            assert statuses == [201, 201, 429]
        # A visitor prepending made-up hops does not escape: the proxy's own entry is the client.
        spoofed = [create(base, **{"X-Forwarded-For": f"10.9.9.{n}, 203.0.113.1"}).status_code for n in range(3)]
        assert spoofed == [429, 429, 429]


def test_redis_outage_and_recovery_through_the_api(redis_server):
    with running_server(config(redis_server.url, per_ip="50/minute")) as base:
        session_id = create(base).json()["sessionId"]
        redis_server.stop()
        # The limiter fails open, the store cannot save: a clear 503, never a 500.
        response = chat(base, session_id, "Anyone there?")
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "store_unavailable"
        assert create(base).status_code == 503
        response = httpx.get(base + "/health")
        assert response.status_code == 200
        health = response.json()
        assert health["status"] == "degraded"
        assert health["sessions"]["status"] == "down"
        assert health["rateLimit"]["status"] == "down"

        redis_server.start()
        health = httpx.get(base + "/health").json()
        assert (health["status"], health["sessions"]["status"], health["rateLimit"]["status"]) == ("ok", "up", "up")
        fresh = create(base)
        assert fresh.status_code == 201
        assert chat(base, fresh.json()["sessionId"], "Back again").status_code == 200


def test_a_fail_closed_limiter_answers_503_while_redis_is_down(redis_server):
    with running_server(config(redis_server.url, on_storage_error="closed")) as base:
        assert create(base).status_code == 201
        redis_server.stop()
        refused = create(base)
        assert refused.status_code == 503
        assert refused.json()["error"]["code"] == "rate_limiter_unavailable"
        assert refused.headers["Retry-After"] == "5"
        redis_server.start()
        assert create(base).status_code == 201


def test_a_fail_open_limiter_admits_while_redis_is_down(redis_server):
    toml = config(redis_server.url, per_ip="2/minute").replace(
        f'[sessions]\nstore = "redis"\nurl = "{redis_server.url}"', '[sessions]\nstore = "memory"')
    with running_server(toml) as base:
        assert [create(base).status_code for _ in range(3)] == [201, 201, 429]
        redis_server.stop()
        during = [create(base) for _ in range(3)]
        assert [r.status_code for r in during] == [201, 201, 201]
        assert not any("RateLimit" in r.headers for r in during)
        assert httpx.get(base + "/health").json()["rateLimit"]["status"] == "down"
        redis_server.start()
        assert [create(base).status_code for _ in range(3)] == [201, 201, 429]
        assert httpx.get(base + "/health").json()["status"] == "ok"


def test_the_seed_environment_variables_configure_both_instances(redis_server):
    """REDIS_URL and RATE_LIMIT_REQUESTS_PER_MINUTE alone point both plugins at Redis."""
    toml = """
[providers.demo]
type = "canned"
delay = 0

[rate_limit]
type = "limits"

[sessions]
store = "redis"
"""
    env = {"REDIS_URL": redis_server.url, "RATE_LIMIT_REQUESTS_PER_MINUTE": "4"}
    with running_server(toml, env=env) as first, running_server(toml, env=env) as second:
        responses = [create(base) for base in [first, second] * 3]
        assert [r.status_code for r in responses] == [201, 201, 201, 201, 429, 429]
        assert history(second, responses[0].json()["sessionId"]) == []  # created on the first
        assert create(second).headers["RateLimit-Policy"].startswith('"per-ip-minute";q=4;w=60')

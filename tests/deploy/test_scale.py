"""The `scale` profile: several backends with deploy/chatkit.toml, sharing a real redis-server,
behind one nginx whose upstream holds every replica (as `--scale backend=N` makes it)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.deploy.edge import NGINX, running_nginx
from tests.deploy.test_deployed_config import DEPLOYED, backend_env
from tests.redis_store.redis_server import REDIS_SERVER, RedisServer
from tests.support.server import running_server

pytest.importorskip("chatkit_redis")
pytestmark = [
    pytest.mark.nginx,
    pytest.mark.redis,
    pytest.mark.skipif(not os.access(NGINX, os.X_OK), reason="nginx is not installed (apt-get install nginx-light)"),
    pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server is not installed (apt-get install redis-server)"),
]

# The canned demo provider stands in for Ollama, so answers come without a model.
CONFIG = DEPLOYED.replace('order = ["local", "cloud"]', 'order = ["demo"]') + """
[providers.demo]
type = "canned"
delay = 0
"""


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


def replica_env(compose, redis: RedisServer | None, **dotenv: str) -> dict[str, str]:
    """A replica's environment; with ``redis``, .env holds REDIS_URL as docs/deployment.md says."""
    return backend_env(compose, **({"REDIS_URL": redis.url} if redis else {}), **dotenv)


def create_sessions(edge: str, count: int, address: str) -> list[int]:
    transport = httpx.HTTPTransport(local_address=address)
    with httpx.Client(transport=transport, timeout=10) as client:
        return [client.post(f"{edge}/api/create-session").status_code for _ in range(count)]


def test_a_conversation_survives_losing_the_replica_that_began_it(compose, redis: RedisServer):
    env = replica_env(compose, redis)
    assert env["SESSION_STORE"] == "redis"
    with contextlib.ExitStack() as stack:
        first = contextlib.ExitStack()
        stack.callback(first.close)
        replica_a = first.enter_context(running_server(CONFIG, env=env))
        replica_b = stack.enter_context(running_server(CONFIG, env=env))
        edge = stack.enter_context(running_nginx([u.removeprefix("http://") for u in (replica_a, replica_b)]))
        with httpx.Client(timeout=10) as client:
            session_id = client.post(f"{edge}/api/create-session").json()["sessionId"]
            for question in ("Is there rye bread?", "And spelt?"):
                answer = client.post(f"{edge}/api/chat", json={"sessionId": session_id, "message": question})
                assert answer.status_code == 200, answer.text
            first.close()  # replica A goes away; nginx moves on to B
            answer = client.post(f"{edge}/api/chat", json={"sessionId": session_id, "message": "Gluten-free?"})
            assert answer.status_code == 200, answer.text
            history = client.get(f"{edge}/api/session/{session_id}/messages").json()["messages"]
    assert [m["content"] for m in history if m["role"] == "user"] == ["Is there rye bread?", "And spelt?",
                                                                      "Gluten-free?"]


@pytest.mark.parametrize("shared", [True, False], ids=["redis", "memory"])
def test_rate_limits_hold_across_replicas_only_with_redis(compose, redis: RedisServer, shared: bool):
    env = replica_env(compose, redis if shared else None, RATE_LIMIT_REQUESTS_PER_MINUTE="3")
    with running_server(CONFIG, env=env) as replica_a, running_server(CONFIG, env=env) as replica_b, \
            running_nginx([u.removeprefix("http://") for u in (replica_a, replica_b)]) as edge:
        statuses = create_sessions(edge, 4, "127.0.0.5")
    # RATE_LIMIT_REQUESTS_PER_MINUTE=3 for the whole deployment with Redis; per replica without.
    assert statuses == ([201, 201, 201, 429] if shared else [201, 201, 201, 201])

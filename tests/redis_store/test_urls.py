"""Redis URLs as site owners write them, against a real redis-server: a unix socket, a password
with characters URLs must escape, an IPv6 host and Valkey's scheme names."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import msgspec
import pytest
from chatkit_redis import RedisOptions, RedisStore

from chatkit_core.models import Message, new_message_id, now_rfc3339
from chatkit_core.platform.redisclient import redis_py_url
from tests.redis_store.redis_server import REDIS_SERVER, RedisServer

pytestmark = pytest.mark.redis

PASSWORD = "p@ss:w/rd#?%&="


@pytest.fixture
def server(tmp_path: Path):
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    started = RedisServer(tmp_path, password=PASSWORD, unix_socket=True, ipv6=True)
    started.start()
    yield started
    started.stop()


async def round_trip(url: str) -> None:
    """A conversation stored and read back through the session store the config would build."""
    store = RedisStore(msgspec.convert({"store": "redis", "url": url, "timeout": 2}, RedisOptions))
    await store.start()
    try:
        session = await store.create({"page": "/"})
        question = Message(id=new_message_id(), role="user", content="Open on Sunday?", created_at=now_rfc3339())
        assert await store.append(session.id, question)
        assert await store.messages(session.id) == [question]
    finally:
        await store.close()


def test_only_the_scheme_changes():
    assert redis_py_url("unix:///run/redis.sock?db=1") == "unix:///run/redis.sock?db=1"
    assert redis_py_url("valkeys://:p%40ss@[::1]:6380/2") == "rediss://:p%40ss@[::1]:6380/2"
    assert redis_py_url("VALKEY://h/0") == "redis://h/0"
    for bad in ("memcached://x", "no-scheme"):
        with pytest.raises(ValueError, match="not a Redis URL"):
            redis_py_url(bad)


@pytest.mark.parametrize("form", ["unix", "unix-userinfo", "ipv6", "ipv4-valkey"])
async def test_sessions_work_over_every_url_form(server: RedisServer, form: str):
    password = quote(PASSWORD, safe="")
    url = {
        "unix": f"unix://{server.socket}?db=3&password={password}",
        "unix-userinfo": f"unix://:{password}@{server.socket}?db=3",
        "ipv6": f"redis://:{password}@[::1]:{server.port}/4",
        "ipv4-valkey": f"valkey://:{password}@127.0.0.1:{server.port}/5",
    }[form]
    await round_trip(url)


async def test_a_wrong_password_is_refused_without_echoing_it(server: RedisServer):
    from chatkit_core.chat.sessions import StoreUnavailable

    with pytest.raises(StoreUnavailable) as refused:
        await round_trip(f"unix://:wrong-secret@{server.socket}")
    assert "wrong-secret" not in str(refused.value)

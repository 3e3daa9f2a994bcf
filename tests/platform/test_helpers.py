"""The helpers plugins share instead of copying: Redis pools, URL redaction, message encoding."""

from __future__ import annotations

import pytest
from redis.asyncio.connection import SSLConnection, UnixDomainSocketConnection

from chatkit_core import codec
from chatkit_core.models import Message
from chatkit_core.platform import redisclient
from chatkit_core.urls import public_host, public_url
from tests.conftest import ROOT


def test_urls_lose_their_credentials():
    assert public_url("https://user:s3cret@example.com:8443/v1?x=1") == "https://example.com:8443/v1?x=1"
    assert public_host("http://:tok@10.0.0.1:11434") == "10.0.0.1:11434"
    assert public_url("http://127.0.0.1:11434") == "http://127.0.0.1:11434"


def test_redis_pools_speak_valkey_and_give_up_in_time():
    pool = redisclient.connection_pool("valkeys://:pw@cache:6380/2", timeout=0.5, max_connections=7)
    assert pool.connection_class is SSLConnection and pool.max_connections == 7
    assert pool.connection_kwargs["socket_timeout"] == 0.5 and pool.connection_kwargs["db"] == 2
    assert pool.connection_kwargs["retry"].get_retries() == 1
    unix = redisclient.connection_pool("unix:///run/redis.sock?db=1", timeout=1, max_connections=1)
    assert unix.connection_class is UnixDomainSocketConnection
    with pytest.raises(ValueError, match="not a Redis URL"):
        redisclient.connection_pool("memcached://x", timeout=1, max_connections=1)


def test_messages_round_trip():
    message = Message(id="msg_1", role="assistant", content="Hi <b>", created_at="2026-01-01T00:00:00.000Z",
                      provider="p", model="m", usage={"total_tokens": 3})
    assert codec.decode_message(codec.encode(message)) == message
    assert codec.decode_metadata(codec.encode({"page": "/"})) == {"page": "/"}


def test_the_redis_plugins_use_the_shared_helpers_instead_of_copies():
    sources = {path.name: path.read_text() for name in ("chatkit_redis", "chatkit_ratelimit")
               for path in (ROOT / "plugins" / name / name).glob("*.py")}
    everything = "\n".join(sources.values())
    for copy in ("BlockingConnectionPool.from_url", "Retry(NoBackoff()", "msgspec.json.Decoder(Message)",
                 '"valkey": "redis"'):
        assert copy not in everything, f"{copy} is copied into a plugin: use chatkit_core.platform.redisclient / codec"
    assert "redisclient" in sources["store.py"] and "redisclient" in sources["storage.py"]

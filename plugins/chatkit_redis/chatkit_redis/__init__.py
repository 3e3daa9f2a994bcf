"""ChatKit session store type ``redis``, answer cache type ``redis`` and concurrency store ``redis``.

    [sessions]
    store = "redis"
    url = "redis://127.0.0.1:6379/1"   # REDIS_URL fills it when empty
    ttl = "24h"                        # idle time after which a conversation is gone
    key_prefix = "chatkit:"

    [cache]
    enabled = true
    type = "redis"
    url = "redis://127.0.0.1:6379/2"   # REDIS_URL fills it when empty
    ttl = "1h"
    max_entries = 10000

    [handoff]
    broker = "redis://127.0.0.1:6379/0"   # handoff events between instances (Redis Streams)
    [chain]
    concurrency_store = "redis://127.0.0.1:6379/0"   # providers' max_concurrency shared by every instance
"""

from __future__ import annotations

from chatkit_core import hookimpl
from chatkit_core.platform import redisclient
from chatkit_redis.broker import RedisBroker
from chatkit_redis.cache import RedisCache, RedisCacheOptions
from chatkit_redis.slots import RedisSlotStore
from chatkit_redis.store import RedisOptions, RedisStore

__all__ = ["RedisBroker", "RedisCache", "RedisCacheOptions", "RedisOptions", "RedisSlotStore", "RedisStore"]


@hookimpl
def register_session_stores(register):
    register("redis", RedisStore)


@hookimpl
def register_answer_caches(register):
    register("redis", RedisCache)


@hookimpl
def register_brokers(register):
    for scheme in ("redis", "rediss", "valkey", "valkeys", "unix"):
        register(scheme, RedisBroker)


@hookimpl
def register_concurrency_stores(register):
    for scheme in redisclient.SCHEMES:
        register(scheme, RedisSlotStore)

"""ChatKit session store type ``redis``.

    [sessions]
    store = "redis"
    url = "redis://127.0.0.1:6379/1"   # REDIS_URL fills it when empty
    ttl = "24h"                        # idle time after which a conversation is gone
    key_prefix = "chatkit:"
"""

from __future__ import annotations

from chatkit_core import hookimpl
from chatkit_redis.store import RedisOptions, RedisStore

__all__ = ["RedisOptions", "RedisStore"]


@hookimpl
def register_session_stores(register):
    register("redis", RedisStore)

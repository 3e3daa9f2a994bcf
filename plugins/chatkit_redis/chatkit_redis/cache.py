"""Answer cache type ``redis``: cached answers shared by every backend instance.

Keys, under ``key_prefix``: ``answer:KEY`` holds one answer with the cache's TTL, and
``answers`` is a sorted set of those keys by the time they were stored, so the oldest go
once there are more than ``max_entries``. A store is one Lua script; a lookup is one GET.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, ClassVar, cast

from chatkit_core.chat.answer_cache import AnswerCache, CacheOptions
from chatkit_core.chat.health import Health
from chatkit_core.platform import redisclient
from chatkit_core.platform.environment import EnvSetter, fallback

if TYPE_CHECKING:
    from redis.typing import EncodableT

# KEYS: the answer, the index. ARGV: answer, TTL ms, now, max entries, TTL s.
_SET = """
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], KEYS[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', tonumber(ARGV[3]) - tonumber(ARGV[5]))
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[4])
if over > 0 then
  local oldest = redis.call('ZPOPMIN', KEYS[2], over)
  for i = 1, #oldest, 2 do redis.call('DEL', oldest[i]) end
end
redis.call('PEXPIRE', KEYS[2], ARGV[2])
"""

# KEYS: the index.
_CLEAR = """
local keys = redis.call('ZRANGE', KEYS[1], 0, -1)
for i = 1, #keys, 500 do redis.call('DEL', unpack(keys, i, math.min(i + 499, #keys))) end
redis.call('DEL', KEYS[1])
"""


class RedisCacheOptions(CacheOptions, kw_only=True, forbid_unknown_fields=True):
    env: ClassVar[dict[str, EnvSetter]] = {"REDIS_URL": fallback("url")}
    url: str = ""
    key_prefix: str = "chatkit:"
    timeout: float = 0.5
    """Seconds to connect or answer before a lookup counts as a miss (the chat goes ahead)."""
    max_connections: int = 50

    def __post_init__(self) -> None:
        super().__post_init__()
        redisclient.check_options(self.url, self.timeout, self.max_connections, "redis://127.0.0.1:6379/2")


class RedisCache(AnswerCache):
    Options = RedisCacheOptions
    options: RedisCacheOptions

    def __init__(self, options: RedisCacheOptions) -> None:
        super().__init__(options)
        self._redis = redisclient.client(options.url, timeout=options.timeout,
                                         max_connections=options.max_connections)
        self._set = self._redis.register_script(_SET)
        self._clear = self._redis.register_script(_CLEAR)
        self._index = options.key_prefix + "answers"

    async def close(self) -> None:
        await self._redis.aclose()

    async def get(self, key: str) -> bytes | None:
        return cast("bytes | None", await self._redis.get(self.options.key_prefix + "answer:" + key))

    async def set(self, key: str, value: bytes) -> None:
        args: list[EncodableT] = [value, int(self.ttl * 1000), repr(time.time()), self.options.max_entries, self.ttl]
        await self._set(keys=[self.options.key_prefix + "answer:" + key, self._index], args=args)

    async def clear(self) -> None:
        await self._clear(keys=[self._index])

    async def health(self) -> Health:
        from redis.exceptions import RedisError

        try:
            await self._redis.ping()
        except RedisError as error:
            return Health("down", f"redis unreachable ({type(error).__name__})")
        return Health("up")

"""Every moving window of a request checked and spent in one Redis round trip.

The keys and entries are those of ``limits``' moving-window strategy (a list of hit
timestamps, newest first), so this and the library read each other's data.
"""

from __future__ import annotations

from collections.abc import Sequence

from limits.errors import StorageError
from limits.limits import RateLimitItem
from limits.util import WindowStats
from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import RedisError

# ARGV: now, cost, then limit and expiry per key. Returns allowed, then remaining and
# reset time per key, after the spend when allowed.
SCRIPT = """
local now = tonumber(ARGV[1])
local cost = tonumber(ARGV[2])
-- The count and oldest stamp inside a window: a binary search for the last entry
-- still in it, as limits does, so a large quota costs log(n) reads, not n.
local function window(i)
  local limit = tonumber(ARGV[1 + 2 * i])
  local expiry = tonumber(ARGV[2 + 2 * i])
  local low, high = 0, math.min(limit, redis.call('llen', KEYS[i])) - 1
  local count, oldest = 0, now
  while low <= high do
    local middle = math.floor((low + high) / 2)
    local stamp = tonumber(redis.call('lindex', KEYS[i], middle))
    if stamp >= now - expiry then
      count, oldest = middle + 1, stamp
      low = middle + 1
    else
      high = middle - 1
    end
  end
  return limit, expiry, count, oldest
end
local allowed = 1
for i = 1, #KEYS do
  local limit, _, count = window(i)
  if limit - count < cost then allowed = 0 end
end
if allowed == 1 then
  for i = 1, #KEYS do
    local limit, expiry = window(i)
    for _ = 1, cost do redis.call('lpush', KEYS[i], ARGV[1]) end
    redis.call('ltrim', KEYS[i], 0, limit - 1)
    redis.call('expire', KEYS[i], expiry)
  end
end
local out = {allowed}
for i = 1, #KEYS do
  local limit, expiry, count, oldest = window(i)
  out[#out + 1] = tostring(limit - count)
  out[#out + 1] = tostring(oldest + expiry)
end
return out
"""


class MovingWindows:
    """Checks and spends all of a request's moving windows atomically in Redis."""

    def __init__(self, pool: BlockingConnectionPool, key_prefix: str) -> None:
        self._script = Redis(connection_pool=pool).register_script(SCRIPT)
        self._prefix = key_prefix

    async def spend(self, windows: Sequence[tuple[RateLimitItem, tuple[str, ...]]], cost: int,
                    now: float) -> tuple[bool, list[WindowStats]]:
        """Whether every window had room for ``cost`` (then all spent), and each one's stats."""
        keys = [f"{self._prefix}:{item.key_for(*identifiers)}" for item, identifiers in windows]
        arguments: list[float | int] = [now, cost]
        for item, _ in windows:
            arguments += [item.amount, item.get_expiry()]
        try:
            answer = await self._script(keys=keys, args=arguments)
        except RedisError as error:
            raise StorageError(error) from error
        stats = [WindowStats(float(answer[i + 1]), int(answer[i])) for i in range(1, len(answer), 2)]
        return answer[0] == 1, stats

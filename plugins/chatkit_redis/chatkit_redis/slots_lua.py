"""The Lua scripts behind shared slots: each change is one atomic call on Redis's own clock.

KEYS, for one provider: ``held`` (tickets holding a slot, scored by when their lease ends),
``line`` (tickets waiting, scored by arrival), ``due`` (the same waiting tickets, scored by
when their lease ends), ``seq`` (the arrival counter). Every script first lets go of the
tickets whose lease ended, then hands free slots to the head of the line (``settle``), so a
slot is never free while someone waits; it publishes on the provider's channel whenever the
line moved, and keeps every key three leases past its last use.
"""

from __future__ import annotations

_PRELUDE = """
if redis.replicate_commands then redis.replicate_commands() end
local held, line, due = KEYS[1], KEYS[2], KEYS[3]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local moved = false

local function settle(limit, lease)
  redis.call('ZREMRANGEBYSCORE', held, '-inf', now)
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', due, '-inf', now)) do
    redis.call('ZREM', line, id)
    redis.call('ZREM', due, id)
    moved = true
  end
  local granted = {}
  local free = limit - redis.call('ZCARD', held)
  if free > 0 then
    for _, id in ipairs(redis.call('ZRANGE', line, 0, free - 1)) do
      redis.call('ZREM', line, id)
      redis.call('ZREM', due, id)
      redis.call('ZADD', held, now + lease, id)
      granted[#granted + 1] = id
      moved = true
    end
  end
  return granted
end

local function finish(lease, channel)
  for _, key in ipairs(KEYS) do redis.call('PEXPIRE', key, lease * 3) end
  if moved then redis.call('PUBLISH', channel, '1') end
end
"""

ENTER = _PRELUDE + """
-- ARGV: ticket, limit, max_queue, lease ms, channel. Returns 0 (a slot), -1 (line full) or
-- the ticket's place in line (1: next).
local id, limit, max_queue, lease = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
settle(limit, lease)
local result
if redis.call('ZCARD', line) == 0 and redis.call('ZCARD', held) < limit then
  redis.call('ZADD', held, now + lease, id)
  result = 0
elseif redis.call('ZCARD', line) >= max_queue then
  result = -1
else
  redis.call('ZADD', line, redis.call('INCR', KEYS[4]), id)
  redis.call('ZADD', due, now + lease, id)
  result = redis.call('ZRANK', line, id) + 1
end
finish(lease, ARGV[5])
return result
"""

LEAVE = _PRELUDE + """
-- ARGV: ticket, limit, lease ms, channel. Returns the tickets this handed a slot to.
local id, limit, lease = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREM', held, id)
if redis.call('ZREM', line, id) > 0 then moved = true end
redis.call('ZREM', due, id)
local granted = settle(limit, lease)
finish(lease, ARGV[4])
return granted
"""

SYNC = _PRELUDE + """
-- ARGV: limit, lease ms, channel, count of held tickets, the held tickets, then the waiting
-- ones. Renews the leases of those still known (never brings back one that was let go) and
-- returns, per waiting ticket, 0 (it has a slot), its place in line, or -1 (lost).
local limit, lease, held_count = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[4])
for i = 5, 4 + held_count do redis.call('ZADD', held, 'XX', now + lease, ARGV[i]) end
for i = 5 + held_count, #ARGV do redis.call('ZADD', due, 'XX', now + lease, ARGV[i]) end
settle(limit, lease)
local places = {}
for i = 5 + held_count, #ARGV do
  local rank = redis.call('ZRANK', line, ARGV[i])
  if rank then
    places[#places + 1] = rank + 1
  elseif redis.call('ZSCORE', held, ARGV[i]) then
    places[#places + 1] = 0
  else
    places[#places + 1] = -1
  end
end
finish(lease, ARGV[3])
return places
"""

"""Sliding-window logs in Redis, shared by every API process; one Lua script per admission.

Each key is a sorted set of admissions scored by time in integer milliseconds (Lua numbers lose
sub-millisecond precision at epoch magnitudes), one member per unit of cost. The script prunes what
has aged out, decides for every key, and only if all of them fit adds the admissions — so a refusal by
any key consumes nothing anywhere, and concurrent admissions never overshoot (Redis runs a script
atomically). Each key's TTL is reset to its window on every admission, so idle keys expire by themselves.

Time: the caller's ``now`` when given (tests), else the Redis server's clock (``TIME``), so API hosts
with skewed clocks still agree. Works on Redis 6.2 (effects replication is the default since 5).

Redis Cluster: a script may only touch keys in one hash slot. :func:`checks_for` puts a hash tag in
every key — ``{<organization id>}`` for the user and organization keys, ``{provider:<name>}`` for a
provider's — so a user's and their organization's keys share a slot. A provider's limit is platform-wide
and cannot share its slot with every organization, so on a clustered Redis set
``DONATELLO_RATE_LIMIT_HASH_TAG`` to put all limiter keys under one tag (one shard; limiter traffic is
small). Non-clustered Redis (Azure Cache Basic/Standard/Premium without clustering) needs nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

from donatello.ratelimit.limiter import ALLOWED_WITHOUT_CHECKS, Check, Decision

if TYPE_CHECKING:
    from redis.asyncio import Redis

# KEYS: one sorted set per check. ARGV: now in ms ("" = server clock), a unique token for members,
# then limit, window in ms, cost for each key. Returns {allowed, index (1-based), remaining, retry ms}.
SLIDING_WINDOW_ALL = """
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local token = ARGV[2]
local counts = {}
local refused, refused_wait, refused_remaining = 0, -1, 0
local tightest, tightest_remaining = 0, nil
for i = 1, #KEYS do
  local key = KEYS[i]
  local limit = tonumber(ARGV[i * 3])
  local window = tonumber(ARGV[i * 3 + 1])
  local cost = tonumber(ARGV[i * 3 + 2])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', string.format('%d', now - window))
  local count = redis.call('ZCARD', key)
  counts[i] = count
  if count + cost > limit then
    local wait = window
    if cost <= limit then
      local excess = count + cost - limit
      local oldest = redis.call('ZRANGE', key, excess - 1, excess - 1, 'WITHSCORES')
      wait = tonumber(oldest[2]) + window - now
    end
    if wait > refused_wait then
      refused, refused_wait, refused_remaining = i, wait, math.max(0, limit - count)
    end
  else
    local remaining = limit - count - cost
    if tightest_remaining == nil or remaining < tightest_remaining then
      tightest, tightest_remaining = i, remaining
    end
  end
end
if refused > 0 then
  return {0, refused, refused_remaining, refused_wait}
end
local score = string.format('%d', now)
for i = 1, #KEYS do
  local key = KEYS[i]
  for unit = 1, tonumber(ARGV[i * 3 + 2]) do
    redis.call('ZADD', key, score, token .. ':' .. i .. ':' .. unit)
  end
  redis.call('PEXPIRE', key, ARGV[i * 3 + 1])
end
return {1, tightest, tightest_remaining, 0}
"""

# A read of one key: KEYS[1]; ARGV: now in ms ("" = server clock), limit, window in ms, cost. Writes nothing
# (what has aged out is skipped, not pruned). Returns {allowed, remaining, retry ms}.
PEEK = """
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local limit, window, cost = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local horizon = '(' .. string.format('%d', now - window)
local count = redis.call('ZCOUNT', KEYS[1], horizon, '+inf')
if count + cost <= limit then
  return {1, limit - count - cost, 0}
end
if cost > limit then
  return {0, math.max(0, limit - count), window}
end
local excess = count + cost - limit
local oldest = redis.call('ZRANGEBYSCORE', KEYS[1], horizon, '+inf', 'WITHSCORES', 'LIMIT', excess - 1, 1)
return {0, math.max(0, limit - count), tonumber(oldest[2]) + window - now}
"""


class RedisLimiter:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._script = redis.register_script(SLIDING_WINDOW_ALL)
        self._peek = redis.register_script(PEEK)

    async def hit(
        self, key: str, *, limit: int, window_seconds: int, cost: int = 1, now: float | None = None
    ) -> Decision:
        return await self.hit_all([Check(key, limit, window_seconds, cost)], now=now)

    async def hit_all(self, checks: Sequence[Check], *, now: float | None = None) -> Decision:
        if not checks:
            return ALLOWED_WITHOUT_CHECKS
        token = uuid.uuid4().hex
        args: list[str | int] = ["" if now is None else round(now * 1000), token]
        for check in checks:
            args += [check.limit, check.window_seconds * 1000, check.cost]
        allowed, index, remaining, wait_ms = await self._script(
            keys=[check.key for check in checks], args=args
        )
        check = checks[int(index) - 1]
        return Decision(
            allowed=bool(allowed),
            limit=check.limit,
            remaining=int(remaining),
            retry_after_seconds=int(wait_ms) / 1000,
            check=check,
            receipt=token if allowed else None,
        )

    async def refund(self, checks: Sequence[Check], decision: Decision) -> None:
        """Remove exactly the members the script added for this admission (one round trip)."""
        if not decision.allowed or decision.receipt is None:
            return
        pipe = self._redis.pipeline(transaction=False)
        for index, check in enumerate(checks, start=1):
            pipe.zrem(check.key, *(f"{decision.receipt}:{index}:{unit}" for unit in range(1, check.cost + 1)))
        await pipe.execute()

    async def peek(self, check: Check, *, now: float | None = None) -> Decision:
        args: list[str | int] = ["" if now is None else round(now * 1000), check.limit]
        args += [check.window_seconds * 1000, check.cost]
        allowed, remaining, wait_ms = await self._peek(keys=[check.key], args=args)
        return Decision(bool(allowed), check.limit, int(remaining), int(wait_ms) / 1000, check)

"""Rate limits that survive a Redis outage: counted in this process while Redis is unreachable."""

from __future__ import annotations

from collections.abc import Sequence

from donatello.core.fallback import RedisFallback
from donatello.ratelimit.limiter import Check, Decision, RateLimiter


class FailoverLimiter:
    def __init__(self, shared: RateLimiter, local: RateLimiter) -> None:
        self._shared = shared
        self._local = local
        self._fallback = RedisFallback("rate limits")

    async def hit(
        self, key: str, *, limit: int, window_seconds: int, cost: int = 1, now: float | None = None
    ) -> Decision:
        return await self.hit_all([Check(key, limit, window_seconds, cost)], now=now)

    async def hit_all(self, checks: Sequence[Check], *, now: float | None = None) -> Decision:
        return await self._fallback.call(
            lambda: self._shared.hit_all(checks, now=now), lambda: self._local.hit_all(checks, now=now)
        )

"""Rate limits that survive a Redis outage: counted in this process while Redis is unreachable."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace

from donatello.core.fallback import UNREACHABLE, RedisFallback
from donatello.ratelimit.limiter import Check, Decision, RateLimiter

log = logging.getLogger(__name__)


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
        async def shared() -> Decision:
            decision = await self._shared.hit_all(checks, now=now)
            return replace(decision, receipt=(self._shared, decision.receipt))

        async def local() -> Decision:
            decision = await self._local.hit_all(checks, now=now)
            return replace(decision, receipt=(self._local, decision.receipt))

        return await self._fallback.call(shared, local)

    async def peek(self, check: Check, *, now: float | None = None) -> Decision:
        return await self._fallback.call(
            lambda: self._shared.peek(check, now=now), lambda: self._local.peek(check, now=now)
        )

    async def refund(self, checks: Sequence[Check], decision: Decision) -> None:
        """Refund where the charge was made; if Redis has gone away since, the charge simply ages out."""
        if not isinstance(decision.receipt, tuple):
            return
        limiter, receipt = decision.receipt
        try:
            await limiter.refund(checks, replace(decision, receipt=receipt))
        except UNREACHABLE as error:
            log.warning(
                "Redis unavailable: a rate-limit charge was not refunded",
                extra={"error": type(error).__name__},
            )

"""Shared state in Redis with a local stand-in while Redis is unreachable.

Rate limits and model availability are shared through Redis when it is configured. If Redis stops
answering, the process keeps going on its own memory (the same rules, counted per process) instead of
failing requests: these protect fairness and provider quotas, while the money guard — the hard budget —
lives in PostgreSQL and is untouched. Redis is tried again after ``retry_after`` seconds; the outage and
the recovery are logged once each.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)

T = TypeVar("T")

RETRY_REDIS_AFTER_SECONDS = 5.0
UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)


class RedisFallback:
    def __init__(self, what: str, *, retry_after: float = RETRY_REDIS_AFTER_SECONDS) -> None:
        self._what = what
        self._retry_after = retry_after
        self._down_until: float | None = None  # monotonic time before which Redis is not tried

    @property
    def degraded(self) -> bool:
        """True while this state is kept locally because Redis did not answer."""
        return self._down_until is not None

    async def call(self, shared: Callable[[], Awaitable[T]], local: Callable[[], Awaitable[T]]) -> T:
        if self._down_until is not None and time.monotonic() < self._down_until:
            return await local()
        try:
            result = await shared()
        except UNREACHABLE as error:
            if self._down_until is None:
                log.warning(
                    f"Redis unavailable: {self._what} kept in this process until it answers",
                    extra={"error": type(error).__name__},
                )
            self._down_until = time.monotonic() + self._retry_after
            return await local()
        if self._down_until is not None:
            log.warning(f"Redis answers again: {self._what} shared again")
            self._down_until = None
        return result


def connect_redis(url: str) -> Redis:
    """A client that gives up quickly: an unreachable Redis must cost a request milliseconds, not the
    operating system's connect time-out, before the local stand-in answers."""
    return Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)

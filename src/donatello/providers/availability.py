"""Model availability: a model that fails repeatedly is paused for a short while.

``FAILURE_THRESHOLD`` retryable failures within ``FAILURE_WINDOW_SECONDS`` mark a model unavailable for
``PAUSE_SECONDS``; ``candidates`` skips it meanwhile (and the worker's fallbacks go elsewhere). A success
clears the count. A provider that says how long to stay away (a ``Retry-After`` longer than the worker
waits, e.g. Azure's daily quota: 86400 s) pauses the model for that long through ``pause``; a pause is
only ever lengthened, never cut short. With Redis the state is shared by every API process and worker
and expires by TTL; without it each process keeps its own.

``Watched`` (the worker's) puts the circuit breaker, kept in PostgreSQL (``providers.circuit``), in
place of that short pause: the worker asks it before each call (``admit``) and tells it each call's
outcome and latency.
"""

from __future__ import annotations

import math
import time
import weakref
from collections.abc import Callable
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from donatello.config import Settings
from donatello.core.fallback import RedisFallback
from donatello.providers.circuit import Circuits

FAILURE_THRESHOLD = 3
FAILURE_WINDOW_SECONDS = 60
PAUSE_SECONDS = 30

# KEYS: failures counter, paused flag. ARGV: window, threshold, pause. Returns 1 when it paused the model.
_RECORD_FAILURE = """
local failures = redis.call('INCR', KEYS[1])
if failures == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
if failures >= tonumber(ARGV[2]) then
  if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[3]) * 1000 then
    redis.call('SET', KEYS[2], '1', 'EX', ARGV[3])
  end
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"""
# KEYS: paused flag. ARGV: milliseconds. Lengthens the pause, never shortens it.
_PAUSE = """
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
end
return 1
"""


class Availability(Protocol):
    async def paused_for(self, provider: str, model: str) -> float | None:
        """Seconds until the model may be used again, or None when it is available."""
        ...

    async def record_failure(self, provider: str, model: str, seconds: float | None = None) -> bool:
        """Count a failed call (``seconds``: how long it took); True when this one paused the model."""
        ...

    async def record_success(self, provider: str, model: str, seconds: float | None = None) -> None: ...

    async def admit(self, provider: str, model: str) -> bool:
        """Whether a call may be made to the model now (a circuit breaker may say no)."""
        ...

    async def pause(self, provider: str, model: str, seconds: float) -> None:
        """Keep the model out of selection for ``seconds`` (or longer, if it is already paused longer)."""
        ...


class InProcessAvailability:
    def __init__(
        self,
        *,
        threshold: int = FAILURE_THRESHOLD,
        window_seconds: float = FAILURE_WINDOW_SECONDS,
        pause_seconds: float = PAUSE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._threshold = threshold
        self._window = window_seconds
        self._pause = pause_seconds
        self._clock = clock
        self._failures: dict[str, list[float]] = {}
        self._paused_until: dict[str, float] = {}

    async def paused_for(self, provider: str, model: str) -> float | None:
        until = self._paused_until.get(_key(provider, model))
        remaining = until - self._clock() if until is not None else 0.0
        return remaining if remaining > 0 else None

    async def record_failure(self, provider: str, model: str, seconds: float | None = None) -> bool:
        key, now = _key(provider, model), self._clock()
        recent = [at for at in self._failures.get(key, []) if now - at < self._window] + [now]
        if len(recent) >= self._threshold:
            self._failures.pop(key, None)
            self._paused_until[key] = max(now + self._pause, self._paused_until.get(key, now))
            return True
        self._failures[key] = recent
        return False

    async def record_success(self, provider: str, model: str, seconds: float | None = None) -> None:
        self._failures.pop(_key(provider, model), None)

    async def admit(self, provider: str, model: str) -> bool:
        return True

    async def pause(self, provider: str, model: str, seconds: float) -> None:
        key = _key(provider, model)
        until = self._clock() + seconds
        self._paused_until[key] = max(until, self._paused_until.get(key, until))


class RedisAvailability:
    def __init__(
        self,
        redis: Any,  # redis.asyncio.Redis
        *,
        threshold: int = FAILURE_THRESHOLD,
        window_seconds: int = FAILURE_WINDOW_SECONDS,
        pause_seconds: int = PAUSE_SECONDS,
        prefix: str = "donatello:model",
    ) -> None:
        self._redis = redis
        self._threshold = threshold
        self._window = window_seconds
        self._pause = pause_seconds
        self._prefix = prefix

    async def paused_for(self, provider: str, model: str) -> float | None:
        ttl_ms = int(await self._redis.pttl(self._paused_key(provider, model)))
        return ttl_ms / 1000 if ttl_ms > 0 else None

    async def record_failure(self, provider: str, model: str, seconds: float | None = None) -> bool:
        paused = await self._redis.eval(
            _RECORD_FAILURE,
            2,
            self._failures_key(provider, model),
            self._paused_key(provider, model),
            self._window,
            self._threshold,
            self._pause,
        )
        return bool(int(paused))

    async def record_success(self, provider: str, model: str, seconds: float | None = None) -> None:
        await self._redis.delete(self._failures_key(provider, model))

    async def admit(self, provider: str, model: str) -> bool:
        return True

    async def pause(self, provider: str, model: str, seconds: float) -> None:
        milliseconds = max(1, math.ceil(seconds * 1000))
        await self._redis.eval(_PAUSE, 1, self._paused_key(provider, model), milliseconds)

    def _failures_key(self, provider: str, model: str) -> str:
        return f"{self._prefix}:failures:{_key(provider, model)}"

    def _paused_key(self, provider: str, model: str) -> str:
        return f"{self._prefix}:paused:{_key(provider, model)}"


class FailoverAvailability:
    """Redis-backed, with this process's state standing in while Redis is unreachable."""

    def __init__(self, shared: Availability, local: Availability) -> None:
        self._shared = shared
        self._local = local
        self._fallback = RedisFallback("model availability")

    async def paused_for(self, provider: str, model: str) -> float | None:
        return await self._fallback.call(
            lambda: self._shared.paused_for(provider, model), lambda: self._local.paused_for(provider, model)
        )

    async def record_failure(self, provider: str, model: str, seconds: float | None = None) -> bool:
        return await self._fallback.call(
            lambda: self._shared.record_failure(provider, model),
            lambda: self._local.record_failure(provider, model),
        )

    async def record_success(self, provider: str, model: str, seconds: float | None = None) -> None:
        await self._fallback.call(
            lambda: self._shared.record_success(provider, model),
            lambda: self._local.record_success(provider, model),
        )

    async def pause(self, provider: str, model: str, seconds: float) -> None:
        await self._fallback.call(
            lambda: self._shared.pause(provider, model, seconds),
            lambda: self._local.pause(provider, model, seconds),
        )

    async def admit(self, provider: str, model: str) -> bool:
        return True


_in_process = InProcessAvailability()
# One failover per Redis client, so the outage state outlives the request that noticed it.
_failovers: weakref.WeakKeyDictionary[Any, Availability] = weakref.WeakKeyDictionary()


def availability_for(redis: Any | None) -> Availability:
    """Redis-backed when a client is given (this process's state while Redis is down), else this
    process's shared in-memory state."""
    if redis is None:
        return _in_process
    if (found := _failovers.get(redis)) is None:
        found = _failovers[redis] = FailoverAvailability(RedisAvailability(redis), _in_process)
    return found


def watched(redis: Any | None, sessions: async_sessionmaker[AsyncSession], settings: Settings) -> Watched:
    """The worker's availability: ``availability_for(redis)`` with the models' circuit breakers."""
    circuits = Circuits(
        sessions,
        failures_to_open=settings.provider_circuit_failures,
        open_seconds=settings.provider_circuit_open_seconds,
    )
    return Watched(availability_for(redis), circuits)


def _key(provider: str, model: str) -> str:
    return f"{provider}/{model}"


class Watched:
    """The worker's availability: the cache's pauses (a provider's long ``Retry-After``), with the model's
    circuit breaker in place of the cache's short pause after a few failures."""

    def __init__(self, cache: Availability, circuits: Circuits) -> None:
        self._cache = cache
        self.circuits = circuits

    async def paused_for(self, provider: str, model: str) -> float | None:
        return await self._cache.paused_for(provider, model)

    async def record_failure(self, provider: str, model: str, seconds: float | None = None) -> bool:
        return await self.circuits.failed(provider, model, seconds or 0.0)

    async def record_success(self, provider: str, model: str, seconds: float | None = None) -> None:
        await self.circuits.succeeded(provider, model, seconds or 0.0)
        await self._cache.record_success(provider, model)

    async def pause(self, provider: str, model: str, seconds: float) -> None:
        await self._cache.pause(provider, model, seconds)

    async def admit(self, provider: str, model: str) -> bool:
        return await self.circuits.admit(provider, model)

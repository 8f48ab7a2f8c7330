"""Rate limits of image generation: per user and per organization by role, and per provider.

The generation service builds the checks for a request with :func:`checks_for` and charges them with
:func:`charged` around its budget hold; all of them are charged together or none is.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from donatello.config import Settings
from donatello.ratelimit.errors import RateLimited
from donatello.ratelimit.failover import FailoverLimiter
from donatello.ratelimit.in_process import InProcessLimiter
from donatello.ratelimit.limiter import KEY_PREFIX, Check, LimitScope, RateLimiter
from donatello.ratelimit.redis_backed import RedisLimiter
from donatello.tenancy import Principal, Role

if TYPE_CHECKING:
    from redis.asyncio import Redis

MINUTE = 60
DAY = 86_400


def limiter_from_settings(settings: Settings, redis: Redis | None) -> RateLimiter:
    """Redis when configured (shared by every process; this process's memory while Redis is down), else
    this process's memory.

    Build it once per process (the app's lifespan does): the in-process limiter's counts live in it.
    """
    local = InProcessLimiter(max_keys=settings.rate_limit_max_tracked_keys)
    if redis is not None:
        return FailoverLimiter(RedisLimiter(redis), local)
    return local


def checks_for(
    principal: Principal,
    *,
    provider: str | None,
    provider_limit_per_minute: int | None,
    settings: Settings,
    images: int,
) -> list[Check]:
    """The allowances a request for ``images`` images is charged against.

    The user's per-minute and per-day allowances follow their role (a role the settings do not name gets
    the standard user's); the organization's per-minute allowance is shared by all its members; a
    provider's ``rate_limit_per_minute`` (NULL = unlimited) is shared by every organization. Each image
    counts as one unit everywhere. Windows slide: "per day" is any 24 hours.
    """
    if images < 1:
        raise ValueError("a request generates at least one image")
    organization_tag = settings.rate_limit_hash_tag or str(principal.organization_id)
    user = f"{KEY_PREFIX}{{{organization_tag}}}:user:{principal.user_id}"
    checks = [
        Check(f"{user}:{window}s", limit, window, images, LimitScope.USER)
        for window, limit in (
            (MINUTE, _for_role(settings.rate_limit_user_per_minute, principal.role)),
            (DAY, _for_role(settings.rate_limit_user_per_day, principal.role)),
        )
        if limit is not None
    ]
    organization = f"{KEY_PREFIX}{{{organization_tag}}}:organization:{principal.organization_id}"
    checks.append(
        Check(
            f"{organization}:{MINUTE}s",
            settings.rate_limit_organization_per_minute,
            MINUTE,
            images,
            LimitScope.ORGANIZATION,
        )
    )
    if provider is not None and provider_limit_per_minute is not None:
        provider_tag = settings.rate_limit_hash_tag or f"provider:{provider}"
        checks.append(
            Check(
                f"{KEY_PREFIX}{{{provider_tag}}}:provider:{provider}:{MINUTE}s",
                provider_limit_per_minute,
                MINUTE,
                images,
                LimitScope.PROVIDER,
            )
        )
    return checks


async def enforce(limiter: RateLimiter, checks: Sequence[Check]) -> None:
    """Charge every allowance or refuse with 429 naming the one to wait for (nothing is charged then)."""
    decision = await limiter.hit_all(checks)
    if not decision.allowed:
        raise RateLimited.of(decision)


@asynccontextmanager
async def charged(limiter: RateLimiter, checks: Sequence[Check]) -> AsyncIterator[None]:
    """``enforce`` for a request that may still be refused after it: when the block raises (the budget
    refused, say), the charge is given back, so a request that was not admitted uses no allowance."""
    decision = await limiter.hit_all(checks)
    if not decision.allowed:
        raise RateLimited.of(decision)
    try:
        yield
    except BaseException:
        await limiter.refund(checks, decision)
        raise


def _for_role(limits: dict[str, int], role: Role) -> int | None:
    return limits.get(role.value, limits.get(Role.STANDARD_USER.value))

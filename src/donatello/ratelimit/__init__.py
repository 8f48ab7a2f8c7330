"""Rate limiting of image generation: sliding windows per user, organization and provider."""

from donatello.ratelimit.errors import RateLimited
from donatello.ratelimit.in_process import InProcessLimiter
from donatello.ratelimit.limiter import Check, Decision, LimitScope, RateLimiter
from donatello.ratelimit.redis_backed import RedisLimiter
from donatello.ratelimit.service import charged, checks_for, enforce, limiter_from_settings

__all__ = [
    "Check",
    "Decision",
    "InProcessLimiter",
    "LimitScope",
    "RateLimited",
    "RateLimiter",
    "RedisLimiter",
    "charged",
    "checks_for",
    "enforce",
    "limiter_from_settings",
]

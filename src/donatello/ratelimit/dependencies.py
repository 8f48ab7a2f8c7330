from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from donatello.dependencies import resources_of
from donatello.ratelimit.limiter import RateLimiter


def _rate_limiter(request: Request) -> RateLimiter:
    limiter: RateLimiter = resources_of(request).rate_limiter
    return limiter


Limiter = Annotated[RateLimiter, Depends(_rate_limiter)]

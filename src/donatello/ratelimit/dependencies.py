from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from donatello.ratelimit.limiter import RateLimiter


def _rate_limiter(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.app.state.rate_limiter
    return limiter


Limiter = Annotated[RateLimiter, Depends(_rate_limiter)]

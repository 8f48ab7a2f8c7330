"""The refusal a client can act on: which allowance ran out, and when to try again."""

from __future__ import annotations

import math

from donatello.core.errors import DomainError
from donatello.ratelimit.limiter import Decision


class RateLimited(DomainError):
    status = 429
    type = "rate-limited"
    title = "Too many requests"

    def __init__(self, scope: str, limit: int, window_seconds: int, retry_after_seconds: float) -> None:
        self.retry_after_seconds = retry_after_seconds
        wait = self.retry_after_whole_seconds
        super().__init__(
            f"The {scope} limit of {limit} images per {_window_name(window_seconds)} is used up; "
            f"retry in {wait} s",
            scope=scope,
            limit=limit,
            window_seconds=window_seconds,
            retry_after_seconds=wait,
        )

    @classmethod
    def of(cls, decision: Decision) -> RateLimited:
        check = decision.check
        scope = check.scope.value if check else "request"
        window = check.window_seconds if check else 0
        return cls(scope, decision.limit, window, decision.retry_after_seconds)

    @property
    def retry_after_whole_seconds(self) -> int:
        """Retry-After is whole seconds; round up so a client that waits exactly that long fits."""
        return max(1, math.ceil(round(self.retry_after_seconds, 3)))  # ms: float noise is not a second

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_whole_seconds)}


def _window_name(seconds: int) -> str:
    names = {60: "minute", 3600: "hour", 86_400: "day"}
    return names.get(seconds, f"{seconds} s")

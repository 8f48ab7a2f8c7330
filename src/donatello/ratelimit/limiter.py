"""What a rate limiter promises, whichever store keeps the counts.

A limit is a sliding window: at any instant, the cost admitted for a key over the last ``window_seconds``
never exceeds ``limit``. A refusal says how long until enough of the oldest admissions age out of the
window for the same request to fit (``retry_after_seconds``); a request costing more than the limit can
never fit and is refused with the whole window as its wait.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

KEY_PREFIX = "donatello:rl:"


class LimitScope(StrEnum):
    """Whose allowance a limit protects; a refusal names it so the client knows what to wait for."""

    USER = "user"
    ORGANIZATION = "organization"
    PROVIDER = "provider"


@dataclass(frozen=True)
class Check:
    """One allowance to charge: ``cost`` units against ``limit`` per sliding ``window_seconds``."""

    key: str
    limit: int
    window_seconds: int
    cost: int = 1
    scope: LimitScope = LimitScope.USER

    def __post_init__(self) -> None:
        if self.limit < 1 or self.window_seconds < 1 or self.cost < 1:
            raise ValueError(f"a rate-limit check needs limit, window and cost >= 1: {self}")


@dataclass(frozen=True)
class Decision:
    """The outcome of a hit.

    When allowed, ``limit``/``remaining`` describe the tightest allowance after the hit; when refused,
    they describe the allowance that refused (``check``), and ``retry_after_seconds`` is how long until
    the same request would fit there.
    """

    allowed: bool
    limit: int
    remaining: int
    retry_after_seconds: float
    check: Check | None = None
    #: What an allowed hit charged, as the limiter that charged it needs it to ``refund`` (opaque).
    receipt: object = None


class RateLimiter(Protocol):
    async def hit(
        self, key: str, *, limit: int, window_seconds: int, cost: int = 1, now: float | None = None
    ) -> Decision:
        """Charge ``cost`` against one key's sliding window, or refuse and charge nothing."""
        ...

    async def hit_all(self, checks: Sequence[Check], *, now: float | None = None) -> Decision:
        """Charge every check, or — if any one refuses — charge none of them (all-or-nothing)."""
        ...

    async def refund(self, checks: Sequence[Check], decision: Decision) -> None:
        """Give back what an allowed ``hit_all(checks)`` charged: the request was then not admitted."""
        ...

    async def peek(self, check: Check, *, now: float | None = None) -> Decision:
        """Whether ``check`` would be admitted now, charging nothing (a read: one round trip on Redis)."""
        ...


ALLOWED_WITHOUT_CHECKS = Decision(allowed=True, limit=0, remaining=0, retry_after_seconds=0.0)

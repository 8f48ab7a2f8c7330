"""Failed authentication is throttled per client address: a burst of wrong bearer tokens, API keys or
SCIM tokens from one address (``auth_failure_limit`` in ``auth_failure_window_seconds``) makes that address
wait — its next attempts get 429 with Retry-After before any credential is checked, so guessing stops
paying — and the burst is recorded once in the audit log (``auth.throttled``: address and surface, never
the credential). Other addresses, the honest client's among them, are not affected.

Counted on the shared rate limiter (Redis when configured): every attempt is charged up front against the
address's failure window and given back unless its credential was refused (a good credential, or an
outage such as the database restarting, costs nothing), so only refusals stay counted and a full window
refuses without a second look.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from donatello import audit
from donatello.config import Settings
from donatello.core.database import set_platform_scope
from donatello.core.errors import DomainError
from donatello.ratelimit import Check, Decision, RateLimiter
from donatello.ratelimit.limiter import KEY_PREFIX


class Surface(StrEnum):
    BEARER = "bearer"  # our access tokens and Entra access tokens
    API_KEY = "api_key"
    SCIM = "scim"


class AuthenticationThrottled(DomainError):
    """Too many failed attempts from this address; the burst's audit record commits with the refusal."""

    status = 429
    type = "authentication-throttled"
    title = "Too many failed authentication attempts"
    keeps_transaction = True

    def __init__(self, retry_after_seconds: float) -> None:
        self.retry_after = max(1, math.ceil(round(retry_after_seconds, 3)))
        super().__init__(
            f"Too many failed authentication attempts from your address; retry in {self.retry_after} s",
            retry_after_seconds=self.retry_after,
        )

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


@dataclass(frozen=True)
class Attempt:
    """One authentication attempt from ``address``, charged against its failure window."""

    limiter: RateLimiter
    check: Check
    decision: Decision

    async def forgive(self) -> None:
        """The attempt did not fail on its credential (it was good, or the database was down): what it
        charged is given back."""
        await self.limiter.refund([self.check], self.decision)


def _key(settings: Settings, address: str, name: str) -> str:
    tag = settings.rate_limit_hash_tag or "authentication"
    return f"{KEY_PREFIX}{{{tag}}}:{name}:{address}"


async def attempt(
    session: AsyncSession, limiter: RateLimiter, settings: Settings, address: str | None, surface: Surface
) -> Attempt:
    """Charge an attempt from ``address``; when its failure window is full, refuse with 429 (recording
    the burst in the audit log once per window)."""
    window = settings.auth_failure_window_seconds
    check = Check(_key(settings, address or "unknown", "auth-failures"), settings.auth_failure_limit, window)
    decision = await limiter.hit_all([check])
    if not decision.allowed:
        await _record_burst(session, limiter, settings, address, surface)
        raise AuthenticationThrottled(decision.retry_after_seconds)
    return Attempt(limiter, check, decision)


async def _record_burst(
    session: AsyncSession, limiter: RateLimiter, settings: Settings, address: str | None, surface: Surface
) -> None:
    window = settings.auth_failure_window_seconds
    first = await limiter.hit(
        _key(settings, address or "unknown", "auth-throttled"), limit=1, window_seconds=window
    )
    if not first.allowed:
        return  # this burst is already on record
    await set_platform_scope(session)  # no tenant is known: the credential was never accepted
    await audit.record_event(
        session,
        "auth.throttled",
        action="throttled",
        resource=("client_address", None),
        organization_id=None,
        actor=audit.Actor(None, None, {"actor": "unauthenticated", "address": address}),
        status="failure",
        error="Too many failed authentication attempts",
        details={
            "address": address,
            "surface": surface.value,
            "failures": settings.auth_failure_limit,
            "window_seconds": window,
        },
    )

"""Failed authentication is throttled per client address: a burst of wrong bearer tokens, API keys or
SCIM tokens from one address (``auth_failure_limit`` in ``auth_failure_window_seconds``) makes that address
wait — its next attempts get 429 with Retry-After before any credential is checked, so guessing stops
paying — and the burst is recorded once in the audit log (``auth.throttled``: address and surface, never
the credential). Other addresses, the honest client's among them, are not affected.

Counted on the shared rate limiter (Redis when configured): before a credential is checked, one read says
whether the address's failure window is full; only a refused credential is charged, so a good one costs
that read and nothing more (no charge to give back; an outage such as the database restarting costs
nothing either). Parallel guesses are what a read alone would let through, so each API process checks at
most ``IN_FLIGHT`` credentials from one address at a time (the others wait their turn, then read again):
however many arrive together, at most ``auth_failure_limit + IN_FLIGHT * processes - 1`` are checked in a
window.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from enum import StrEnum
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from donatello import audit
from donatello.config import Settings
from donatello.core.database import set_platform_scope
from donatello.core.errors import DomainError
from donatello.ratelimit import Check, RateLimiter
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


T = TypeVar("T")

#: Credentials from one address that one API process checks at a time (see the module's docstring).
IN_FLIGHT = 4


class _InFlight:
    """Per-address semaphores of this process, dropped when no request holds or awaits them."""

    def __init__(self) -> None:
        self._gates: dict[str, tuple[asyncio.Semaphore, int]] = {}

    @asynccontextmanager
    async def turn(self, address: str) -> AsyncIterator[None]:
        gate, users = self._gates.get(address) or (asyncio.Semaphore(IN_FLIGHT), 0)
        self._gates[address] = (gate, users + 1)
        try:
            async with gate:
                yield
        finally:
            gate, users = self._gates[address]
            if users == 1:
                del self._gates[address]
            else:
                self._gates[address] = (gate, users - 1)


_in_flight = _InFlight()


def _key(settings: Settings, address: str, name: str) -> str:
    tag = settings.rate_limit_hash_tag or "authentication"
    return f"{KEY_PREFIX}{{{tag}}}:{name}:{address}"


async def checked(
    session: AsyncSession,
    limiter: RateLimiter,
    settings: Settings,
    address: str | None,
    surface: Surface,
    authenticate: Callable[[], Awaitable[T]],
    refusal: type[BaseException],
) -> T:
    """``authenticate()`` unless ``address`` has failed too often (429, the burst recorded once per
    window); a ``refusal`` it raises is charged to the address. Nothing else is counted."""
    client = address or "unknown"
    window = settings.auth_failure_window_seconds
    check = Check(_key(settings, client, "auth-failures"), settings.auth_failure_limit, window)
    async with _in_flight.turn(client):
        decision = await limiter.peek(check)
        if not decision.allowed:
            await _record_burst(session, limiter, settings, address, surface)
            raise AuthenticationThrottled(decision.retry_after_seconds)
        try:
            return await authenticate()
        except refusal:
            await limiter.hit_all([check])  # a full window refuses the charge: it is counted already
            raise


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

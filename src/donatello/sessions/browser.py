"""Browser sessions: an opaque random id in a cookie; only its hash is stored, as a ``user_sessions`` row.

The row is an ordinary session of the user, so ``GET /v1/auth/sessions`` lists it and revoking it (one
session or all of them) through the API ends the browser session at its next request. The stored hash is
domain-separated from refresh-token hashes, so a cookie presented to ``/v1/auth/refresh`` is not found.

A session ends ``idle`` after its last request and ``absolute`` after sign-in, whichever comes first.
The CSRF token is derived from the cookie (a keyed hash of it): tied to the session, unguessable without
the HttpOnly cookie, and nothing more to store.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from donatello import audit
from donatello.core.clock import utcnow
from donatello.core.database import set_platform_scope, set_tenant
from donatello.models import UserSession
from donatello.sessions import repository

COOKIE_PREFIX = "dnw_"
KIND = "browser"
#: last_used_at is written at most this often, so a page's requests do not each update the row
TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class Lifetimes:
    idle: timedelta
    absolute: timedelta


@dataclass(frozen=True)
class BrowserSession:
    session_id: uuid.UUID
    user_id: uuid.UUID
    organization_id: uuid.UUID
    cookie: str

    @property
    def csrf_token(self) -> str:
        return csrf_token(self.cookie)


def stored_hash(cookie: str) -> str:
    return hashlib.sha256(f"{KIND}:{cookie}".encode()).hexdigest()


def csrf_token(cookie: str) -> str:
    digest = hmac.new(cookie.encode(), b"donatello-csrf", hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def csrf_matches(cookie: str, presented: str | None) -> bool:
    return bool(presented) and hmac.compare_digest(csrf_token(cookie), str(presented))


async def open_session(
    session: AsyncSession,
    user_id: uuid.UUID,
    organization_id: uuid.UUID,
    *,
    device: dict[str, Any] | None,
    lifetimes: Lifetimes,
    method: str,
) -> BrowserSession:
    """A new browser session for a user who has just signed in (the caller audits the sign-in)."""
    cookie = COOKIE_PREFIX + secrets.token_urlsafe(32)
    row = await repository.add(
        session,
        UserSession(
            organization_id=organization_id,
            user_id=user_id,
            family_id=uuid.uuid4(),
            refresh_token_hash=stored_hash(cookie),
            device_info={**(device or {}), "kind": KIND, "method": method},
            expires_at=utcnow() + lifetimes.absolute,
        ),
    )
    return BrowserSession(row.id, user_id, organization_id, cookie)


async def resume(
    session: AsyncSession, cookie: str | None, lifetimes: Lifetimes, *, now: datetime | None = None
) -> BrowserSession | None:
    """The live session behind a cookie, its idle clock restarted; None when it is unknown, revoked,
    expired or idle too long. Narrows the transaction to the session's organization."""
    if not cookie or not cookie.startswith(COOKIE_PREFIX) or len(cookie) > 128:
        return None
    now = now or utcnow()
    await set_platform_scope(session)  # the cookie alone says which tenant it belongs to
    row = await repository.by_hash(session, stored_hash(cookie))
    if row is None or row.revoked or row.expires_at <= now or row.last_used_at + lifetimes.idle <= now:
        return None
    await set_tenant(session, row.organization_id)
    if now - row.last_used_at >= TOUCH_EVERY:
        row.last_used_at = now
        await session.flush()
    return BrowserSession(row.id, row.user_id, row.organization_id, cookie)


async def end(
    session: AsyncSession, cookie: str | None, *, now: datetime | None = None
) -> UserSession | None:
    """Sign out: revoke the session behind the cookie, audited. None when there was none."""
    if not cookie or not cookie.startswith(COOKIE_PREFIX):
        return None
    await set_platform_scope(session)
    row = await repository.by_hash(session, stored_hash(cookie))
    if row is None:
        return None
    await set_tenant(session, row.organization_id)
    if not row.revoked:
        row.revoked, row.revoked_at, row.revoked_reason = True, now or utcnow(), "logout"
        await session.flush()
        await audit.record_event(
            session,
            "session.signed_out",
            action="logout",
            resource=("user_session", row.id),
            organization_id=row.organization_id,
            actor=audit.Actor(row.user_id),
            details={"sessions_revoked": 1, "kind": KIND},
        )
    return row

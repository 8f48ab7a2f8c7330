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
import json
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
from donatello.sealing import PromptSealer
from donatello.sealing.errors import SealBroken
from donatello.sessions import repository

COOKIE_PREFIX = "dnw_"
KIND = "browser"
#: last_used_at is written at most this often, so a page's requests do not each update the row
TOUCH_EVERY = timedelta(minutes=1)
#: a one-time notice not shown within this long is dropped (the redirect after a form is immediate)
NOTICE_LIFETIME = timedelta(minutes=10)
NOTICES_KEPT = 5  # secrets made and not shown yet, per browser session


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
    #: Whether the sign-in met the organization's MFA rule (None: it says nothing about MFA).
    mfa_satisfied: bool | None = None

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
    mfa_satisfied: bool | None = None,
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
            mfa_satisfied=mfa_satisfied,
        ),
    )
    return BrowserSession(row.id, user_id, organization_id, cookie, mfa_satisfied)


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
    return BrowserSession(row.id, row.user_id, row.organization_id, cookie, row.mfa_satisfied)


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


def _notice_context(browser_session: BrowserSession) -> str:
    return f"org:{browser_session.organization_id}/session:{browser_session.session_id}"


async def leave_notice(
    session: AsyncSession,
    sealer: PromptSealer,
    browser_session: BrowserSession,
    kind: str,
    subject: uuid.UUID,
    secret: str,
    *,
    now: datetime | None = None,
) -> None:
    """Keep ``secret`` (new, about ``subject``) for the page a form redirects to, which shows it once:
    post-redirect-get without the secret in the URL. Sealed, bound to this session, beside the session's
    other notices not shown yet (two keys made in two tabs each reach their page); the oldest beyond
    ``NOTICES_KEPT`` and any past ``NOTICE_LIFETIME`` are dropped."""
    at = now or utcnow()
    notes = [note for note in await _notices(session, sealer, browser_session) if _fresh(note, at)]
    until = at + NOTICE_LIFETIME
    notes.append({"kind": kind, "subject": str(subject), "secret": secret, "until": until.isoformat()})
    await _keep(session, sealer, browser_session, notes[-NOTICES_KEPT:])


async def take_notice(
    session: AsyncSession,
    sealer: PromptSealer,
    browser_session: BrowserSession,
    kind: str,
    subject: uuid.UUID,
    *,
    now: datetime | None = None,
) -> str | None:
    """The secret left about ``subject``, cleared as it is read (a reload finds nothing); None when
    there is none, or it is too old (dropped). Notices about other pages stay for them."""
    at = now or utcnow()
    notes = await _notices(session, sealer, browser_session)
    fresh = [note for note in notes if _fresh(note, at)]
    found = next((n for n in fresh if n["kind"] == kind and n["subject"] == str(subject)), None)
    left = [note for note in fresh if note is not found]
    if left != notes:
        await _keep(session, sealer, browser_session, left)
    return None if found is None else str(found["secret"])


async def _notices(
    session: AsyncSession, sealer: PromptSealer, browser_session: BrowserSession
) -> list[dict[str, Any]]:
    """The session's notices, its row locked (two loads of a page cannot both read one before it
    clears); a notice that does not open here (moved from another session, a retired key) is none."""
    envelope = await repository.notice_for_update(session, browser_session.session_id)
    if envelope is None:
        return []
    try:
        stored = json.loads(await sealer.open(envelope, context=_notice_context(browser_session)))
    except (SealBroken, ValueError):
        return []
    return list(stored["notices"]) if "notices" in stored else [stored]  # one notice: 0021's form


async def _keep(
    session: AsyncSession, sealer: PromptSealer, browser_session: BrowserSession, notes: list[dict[str, Any]]
) -> None:
    if not notes:
        await repository.set_notice(session, browser_session.session_id, None)
        return
    sealed = await sealer.seal(json.dumps({"notices": notes}), context=_notice_context(browser_session))
    await repository.set_notice(session, browser_session.session_id, sealed.envelope)


def _fresh(note: dict[str, Any], at: datetime) -> bool:
    return datetime.fromisoformat(note["until"]) > at

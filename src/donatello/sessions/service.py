"""Our own sessions: a short-lived access token plus a refresh token stored only as its SHA-256 hash.

Refreshing rotates the token (the old row records its successor); presenting a rotated token again means
it was copied, so the whole family (every token of that sign-in) is revoked and the event audited.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from donatello import audit
from donatello.auth.tokens import TokenSigner
from donatello.core.clock import utcnow
from donatello.core.database import set_platform_scope, set_tenant
from donatello.core.errors import NotFound
from donatello.core.pagination import Page, decode_time_cursor, page_of
from donatello.models import UserSession
from donatello.sessions import repository
from donatello.sessions.errors import RefreshTokenInvalid, RefreshTokenReused
from donatello.sessions.schemas import SessionRead, TokenPair
from donatello.tenancy import Principal
from donatello.users import service as users

REFRESH_PREFIX = "dnr_"
RETENTION_AFTER_EXPIRY = timedelta(days=30)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def start(
    session: AsyncSession,
    signer: TokenSigner,
    user_id: uuid.UUID,
    organization_id: uuid.UUID,
    *,
    device: dict[str, Any] | None,
    lifetime: timedelta,
    family_id: uuid.UUID | None = None,
    mfa_satisfied: bool | None = None,
) -> tuple[UserSession, TokenPair]:
    """Open a session (a new family unless rotating) and mint its token pair. ``mfa_satisfied``: whether
    the sign-in met the organization's MFA rule (None: the sign-in says nothing about MFA)."""
    refresh_token = REFRESH_PREFIX + secrets.token_urlsafe(32)
    row = await repository.add(
        session,
        UserSession(
            organization_id=organization_id,
            user_id=user_id,
            family_id=family_id or uuid.uuid4(),
            refresh_token_hash=token_hash(refresh_token),
            device_info=device,
            expires_at=utcnow() + lifetime,
            mfa_satisfied=mfa_satisfied,
        ),
    )
    pair = TokenPair(
        access_token=signer.issue(user_id, organization_id, row.id),
        expires_in=int(signer.lifetime.total_seconds()),
        refresh_token=refresh_token,
        session_id=row.id,
    )
    return row, pair


async def operator_token(
    session: AsyncSession,
    signer: TokenSigner,
    user_id: uuid.UUID,
    organization_id: uuid.UUID,
    lifetime: timedelta,
) -> str:
    """``donatello token``: an access token with a session of its own (device ``cli``, lasting as long as
    the token, no refresh token anyone holds), so the session list shows it and logout or revoke-all
    ends it at once."""
    row, _ = await start(session, signer, user_id, organization_id, device={"kind": "cli"}, lifetime=lifetime)
    return signer.issue(user_id, organization_id, row.id, lifetime=lifetime)


async def refresh(
    session: AsyncSession,
    signer: TokenSigner,
    refresh_token: str,
    *,
    device: dict[str, Any] | None,
    lifetime: timedelta,
) -> TokenPair:
    """Rotate a refresh token; a token that was already rotated revokes its whole family (theft)."""
    await set_platform_scope(session)  # the token alone says which tenant it belongs to
    row = await repository.by_hash_for_update(session, token_hash(refresh_token))
    if row is None:
        raise RefreshTokenInvalid()
    await set_tenant(session, row.organization_id)
    now = utcnow()
    if row.replaced_by_id is not None:
        revoked = await repository.revoke_where(session, now, "refresh_token_reused", family_id=row.family_id)
        await audit.record_event(
            session,
            "session.refresh_reuse_detected",
            action="session_family_revoked",
            resource=("user_session", row.family_id),
            organization_id=row.organization_id,
            actor=audit.Actor(row.user_id),
            status="failure",
            details={"presented_session_id": str(row.id), "sessions_revoked": revoked},
        )
        raise RefreshTokenReused(
            "This refresh token was already used; every session of that sign-in is revoked"
        )
    if row.revoked or row.expires_at <= now:
        raise RefreshTokenInvalid()
    principal = await users.principal_for(session, row.user_id, row.organization_id)
    successor, pair = await start(
        session,
        signer,
        principal.user_id,
        principal.organization_id,
        device=device,
        lifetime=lifetime,
        family_id=row.family_id,
        mfa_satisfied=row.mfa_satisfied,  # the same sign-in, rotated
    )
    row.revoked, row.revoked_at, row.revoked_reason = True, now, "rotated"
    row.replaced_by_id = successor.id
    row.last_used_at = now
    await session.flush()
    await audit.record_event(
        session,
        "session.refreshed",
        action="session_rotated",
        resource=("user_session", successor.id),
        organization_id=principal.organization_id,
        actor=principal,
        details={"previous_session_id": str(row.id), "family_id": str(row.family_id)},
    )
    return pair


async def list_own(
    session: AsyncSession, principal: Principal, cursor: str | None, limit: int
) -> Page[SessionRead]:
    """The caller's live sign-ins, newest first; ``current`` marks the one behind this token."""
    rows = await repository.live_of_user(
        session, principal.user_id, utcnow(), decode_time_cursor(cursor), limit + 1
    )
    kept, next_cursor = page_of(rows, limit, key=lambda row: [row.created_at.isoformat(), row.id])
    items = [
        SessionRead.model_validate(row).model_copy(update={"current": row.id == principal.session_id})
        for row in kept
    ]
    return Page[SessionRead](items=items, next_cursor=next_cursor)


async def logout(session: AsyncSession, principal: Principal) -> int:
    """End the sign-in behind the caller's access token (its whole refresh family)."""
    if principal.session_id is None:
        return 0
    current = await repository.get_own(session, principal.user_id, principal.session_id)
    if current is None:
        return 0
    return await _revoke(session, principal, "logout", "session.signed_out", family_id=current.family_id)


async def revoke_one(session: AsyncSession, principal: Principal, session_id: uuid.UUID) -> int:
    """Revoke one of the caller's own sessions (another user's is not found)."""
    row = await repository.get_own(session, principal.user_id, session_id)
    if row is None:
        raise NotFound("session", session_id)
    return await _revoke(session, principal, "revoked_by_user", "session.revoked", family_id=row.family_id)


async def revoke_all(session: AsyncSession, principal: Principal) -> int:
    """Sign out everywhere: every live session of the caller."""
    return await _revoke(session, principal, "revoke_all", "session.revoked_all", user_id=principal.user_id)


async def _revoke(
    session: AsyncSession, principal: Principal, reason: str, event_type: str, **match: uuid.UUID
) -> int:
    count = await repository.revoke_where(session, utcnow(), reason, **match)
    await audit.record_event(
        session,
        event_type,
        action=reason,
        resource=("user_session", match.get("family_id") or principal.session_id),
        organization_id=principal.organization_id,
        actor=principal,
        details={"sessions_revoked": count},
    )
    return count


async def delete_expired(session: AsyncSession) -> int:
    """Retention: delete sessions that expired more than 30 days ago (caller sets platform scope)."""
    count = await repository.delete_expired_before(session, utcnow() - RETENTION_AFTER_EXPIRY)
    if count:
        await audit.record_event(
            session,
            "session.expired_deleted",
            action="retention_cleanup",
            resource=("user_session", None),
            organization_id=None,
            details={"deleted": count},
        )
    return count

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import delete, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.models import UserSession


async def add(session: AsyncSession, row: UserSession) -> UserSession:
    session.add(row)
    await session.flush()
    return row


async def by_hash_for_update(session: AsyncSession, token_hash: str) -> UserSession | None:
    """Lock the row so two refreshes of one token cannot both rotate it."""
    stmt = select(UserSession).where(UserSession.refresh_token_hash == token_hash).with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_own(session: AsyncSession, user_id: uuid.UUID, session_id: uuid.UUID) -> UserSession | None:
    stmt = select(UserSession).where(UserSession.id == session_id, UserSession.user_id == user_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def live_of_user(
    session: AsyncSession,
    user_id: uuid.UUID,
    now: datetime,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[UserSession]:
    """Newest first, keyset on (created_at, id)."""
    stmt = (
        select(UserSession)
        .where(UserSession.user_id == user_id, UserSession.revoked.is_(False), UserSession.expires_at > now)
        .order_by(UserSession.created_at.desc(), UserSession.id.desc())
    )
    if after is not None:
        stmt = stmt.where(tuple_(UserSession.created_at, UserSession.id) < tuple_(*after))
    return list((await session.execute(stmt.limit(limit))).scalars())


async def revoke_where(session: AsyncSession, now: datetime, reason: str, **match: uuid.UUID) -> int:
    """Revoke the live sessions matching ``match`` (family_id=… or user_id=…); returns how many."""
    conditions = [getattr(UserSession, column) == value for column, value in match.items()]
    stmt = (
        update(UserSession)
        .where(*conditions, UserSession.revoked.is_(False))
        .values(revoked=True, revoked_at=now, revoked_reason=reason)
        .execution_options(synchronize_session="fetch")
    )
    result = await session.execute(stmt)
    return int(result.rowcount)  # type: ignore[attr-defined]


async def delete_expired_before(session: AsyncSession, cutoff: datetime) -> int:
    result = await session.execute(delete(UserSession).where(UserSession.expires_at < cutoff))
    return int(result.rowcount)  # type: ignore[attr-defined]


async def by_hash(session: AsyncSession, token_hash: str) -> UserSession | None:
    stmt = select(UserSession).where(UserSession.refresh_token_hash == token_hash)
    return (await session.execute(stmt)).scalar_one_or_none()


async def set_notice(session: AsyncSession, session_id: uuid.UUID, envelope: str | None) -> None:
    stmt = update(UserSession).where(UserSession.id == session_id).values(one_time_notice=envelope)
    await session.execute(stmt.execution_options(synchronize_session=False))


async def notice_for_update(session: AsyncSession, session_id: uuid.UUID) -> str | None:
    """The session's notice, its row locked: two loads of the page cannot both read it before it clears."""
    stmt = select(UserSession.one_time_notice).where(UserSession.id == session_id).with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()

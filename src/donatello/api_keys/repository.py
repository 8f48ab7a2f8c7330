from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.models import ApiKey
from donatello.tenancy import Principal, scope


async def add(session: AsyncSession, key: ApiKey) -> ApiKey:
    session.add(key)
    await session.flush()
    await session.refresh(key)
    return key


async def by_hash(session: AsyncSession, key_hash: str) -> ApiKey | None:
    return (await session.execute(select(ApiKey).where(ApiKey.key_hash == key_hash))).scalar_one_or_none()


async def get(session: AsyncSession, principal: Principal, key_id: uuid.UUID) -> ApiKey | None:
    stmt = scope(select(ApiKey), principal, ApiKey).where(ApiKey.id == key_id)
    key: ApiKey | None = (await session.execute(stmt)).scalar_one_or_none()
    return key


async def listing(
    session: AsyncSession,
    principal: Principal,
    user_id: uuid.UUID | None,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[ApiKey]:
    """Newest first, keyset on (created_at, id)."""
    stmt = scope(select(ApiKey), principal, ApiKey).order_by(ApiKey.created_at.desc(), ApiKey.id.desc())
    if user_id is not None:
        stmt = stmt.where(ApiKey.user_id == user_id)
    if after is not None:
        stmt = stmt.where(tuple_(ApiKey.created_at, ApiKey.id) < tuple_(*after))
    return list((await session.execute(stmt.limit(limit))).scalars())


async def touch(session: AsyncSession, key_id: uuid.UUID, now: datetime) -> None:
    await session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=now))


async def flush(session: AsyncSession) -> None:
    await session.flush()

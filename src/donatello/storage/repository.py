"""Storage's one read of the ledger: whether a generation was deleted."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.models import Generation


async def generation_deleted(session: AsyncSession, generation_id: uuid.UUID) -> bool:
    stmt = select(Generation.is_deleted).where(Generation.id == generation_id)
    return bool((await session.execute(stmt)).scalar_one_or_none())

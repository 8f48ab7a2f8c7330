"""The statements behind ``generations.calls``: provider calls recorded, their outcomes, read back."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.models import ProviderCall


async def mark_unanswered_lost(session: AsyncSession, generation_id: uuid.UUID, now: datetime) -> None:
    await session.execute(
        update(ProviderCall)
        .where(ProviderCall.generation_id == generation_id, ProviderCall.outcome.is_(None))
        .values(outcome="lost", possibly_billed=True, finished_at=now)
    )


async def add(session: AsyncSession, call: ProviderCall) -> uuid.UUID:
    session.add(call)
    await session.flush()
    return call.id


async def set_outcome(session: AsyncSession, call_id: uuid.UUID, **values: Any) -> None:
    await session.execute(update(ProviderCall).where(ProviderCall.id == call_id).values(**values))


async def of_generation(session: AsyncSession, generation_id: uuid.UUID) -> list[ProviderCall]:
    rows = await session.scalars(
        select(ProviderCall)
        .where(ProviderCall.generation_id == generation_id)
        .order_by(ProviderCall.started_at, ProviderCall.id)
    )
    return list(rows)

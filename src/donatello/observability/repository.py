"""The short queries behind the scrape-time gauges (index-backed: the queue's and the outbox's partial
indexes)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.models import AuditOutbox, Generation

QUEUED = ("pending", "processing")


async def queue_depth(session: AsyncSession) -> dict[str, int]:
    stmt = (
        select(Generation.status, func.count())
        .where(Generation.status.in_(QUEUED))
        .group_by(Generation.status)
    )
    counts = {status: 0 for status in QUEUED}
    counts.update({status: int(count) for status, count in (await session.execute(stmt)).all()})
    return counts


async def outbox_backlog(session: AsyncSession) -> tuple[int, datetime | None]:
    """(undelivered events, when the oldest of them was written)."""
    stmt = select(func.count(), func.min(AuditOutbox.created_at)).where(AuditOutbox.delivered_at.is_(None))
    count, oldest = (await session.execute(stmt)).one()
    return int(count), oldest

"""What a scrape reports: the instruments, with the database gauges refreshed first."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from donatello.core import metrics
from donatello.core.clock import utcnow
from donatello.core.database import set_platform_scope
from donatello.observability import repository


async def refresh_gauges(session: AsyncSession) -> None:
    """Queue depth by status and the audit outbox's backlog and lag (counts only, every tenant)."""
    await set_platform_scope(session)
    for status, count in (await repository.queue_depth(session)).items():
        metrics.QUEUE_DEPTH.labels(status).set(count)
    pending, oldest = await repository.outbox_backlog(session)
    metrics.OUTBOX_PENDING.set(pending)
    metrics.OUTBOX_LAG.set(max(0.0, (utcnow() - oldest).total_seconds()) if oldest else 0.0)


def scrape() -> tuple[bytes, str]:
    return metrics.exposition()

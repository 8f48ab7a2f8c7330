"""Background work: release holds whose generation never came back (crashed worker, lost job), and
record the expiry of requests for more budget whose period ended.

Not needed for correctness — lapsed holds stop counting the moment they lapse, and a lapsed request cannot
be approved — but it returns the money to `reserved_aud`, records each expiry in the audit log, and keeps
the held index and the admins' queue small.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from donatello.budgets import increase_requests, repository
from donatello.budgets.account import open_for_update
from donatello.core.clock import utcnow
from donatello.core.database import transaction
from donatello.core.jobs import JobContext

log = logging.getLogger(__name__)
BATCH = 100


async def expire_lapsed_holds(
    sessionmaker: async_sessionmaker[AsyncSession], *, at: datetime | None = None
) -> int:
    """Sweep every department with lapsed holds, one short transaction per department. Returns how many
    departments were swept."""
    at = at or utcnow()
    async with transaction(sessionmaker, platform=True) as session:
        departments = await repository.departments_with_overdue_holds(session, at, BATCH)
    for department_id in departments:
        async with transaction(sessionmaker, platform=True) as session:
            await open_for_update(session, department_id, at)
    if departments:
        log.info("lapsed holds released", extra={"departments": len(departments)})
    return len(departments)


async def expire_lapsed_requests(
    sessionmaker: async_sessionmaker[AsyncSession], *, at: datetime | None = None
) -> int:
    """Record the expiry of requests for more budget whose period has ended, in one transaction."""
    async with transaction(sessionmaker, platform=True) as session:
        return await increase_requests.expire_lapsed(session, at or utcnow())


SWEEP_EVERY_SECONDS = 60.0


async def run(context: JobContext) -> None:
    """The worker job: sweep lapsed holds and lapsed budget requests once a minute."""

    async def sweep() -> bool:
        await expire_lapsed_holds(context.sessions)
        await expire_lapsed_requests(context.sessions)
        return False  # once a round, whatever it found

    await context.repeat(sweep, idle=SWEEP_EVERY_SECONDS, what="sweeping lapsed holds and requests")

"""Background work: release holds whose generation never came back (crashed worker, lost job).

Not needed for correctness — lapsed holds stop counting the moment they lapse — but it returns the money
to `reserved_aud`, records the expiry in the audit log, and keeps the held index small.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from donatello.budgets import repository
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


SWEEP_EVERY_SECONDS = 60.0


async def run(context: JobContext) -> None:
    """The worker job: sweep lapsed holds once a minute."""
    while not context.stopping.is_set():
        try:
            await expire_lapsed_holds(context.sessions)
        except Exception:
            log.exception("sweeping lapsed holds failed; retrying next round")
        await context.sleep(SWEEP_EVERY_SECONDS)

"""A generation whose provider answered but whose images could not be stored is *saving*.

Its answer is kept on disk (``generations.kept``) and the job goes back to the queue to store it, with
back-off (2 s, 4 s, ... up to ``MAX_DELAY_SECONDS``). A store retry is not an attempt — the provider
is never asked again — so a long storage outage (a Blob container deleted, a disk full) does not fail a
generation that is paid for; its hold is kept alive meanwhile, and it is charged once the images are
stored. While it saves, its readers see ``saving`` (``queries.read_placed``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from donatello.budgets import reservations
from donatello.config import Settings
from donatello.core.database import transaction
from donatello.generations import repository
from donatello.generations.job import Job
from donatello.models import Generation

MAX_DELAY_SECONDS = 60


async def save_later(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, job: Job, worker: str, now: datetime
) -> None:
    """Back to the queue to store the kept answer later; the claim does not count as an attempt."""
    failures = int(job.details.get("store_failures", 0)) + 1
    delay = timedelta(seconds=min(2**failures, MAX_DELAY_SECONDS))
    async with transaction(sessions, tenant=job.organization_id) as session:
        await repository.finish(
            session,
            job.id,
            worker,
            status="pending",
            next_attempt_at=now + delay,
            attempts=Generation.attempts - 1,
            details={**job.details, "store_failures": failures},
        )
        await reservations.extend(session, job.id, now + settings.reservation_hold)

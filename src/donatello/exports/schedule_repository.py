"""SQL for export schedules and their runs (every query names the organization, or runs on the platform
scope for the worker, which plans and runs every organization's)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.models import ExportSchedule, ExportScheduleRun, Organization

S, R = ExportSchedule, ExportScheduleRun


def add(session: AsyncSession, schedule: ExportSchedule) -> ExportSchedule:
    session.add(schedule)
    return schedule


async def schedules(session: AsyncSession, organization_id: uuid.UUID) -> Sequence[ExportSchedule]:
    stmt = select(S).where(S.organization_id == organization_id).order_by(S.created_at, S.id)
    return (await session.execute(stmt)).scalars().all()


async def schedule(
    session: AsyncSession, organization_id: uuid.UUID, schedule_id: uuid.UUID
) -> ExportSchedule | None:
    stmt = select(S).where(S.organization_id == organization_id, S.id == schedule_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def runs_of(session: AsyncSession, schedule_id: uuid.UUID, limit: int) -> Sequence[ExportScheduleRun]:
    stmt = (
        select(R).where(R.schedule_id == schedule_id).order_by(R.created_at.desc(), R.id.desc()).limit(limit)
    )
    return (await session.execute(stmt)).scalars().all()


async def enabled_with_organizations(session: AsyncSession) -> Sequence[tuple[ExportSchedule, Organization]]:
    stmt = select(S, Organization).join(Organization, Organization.id == S.organization_id).where(S.enabled)
    return [(row[0], row[1]) for row in (await session.execute(stmt)).all()]


async def plan(session: AsyncSession, rows: list[dict[str, object]]) -> int:
    """Insert the runs not planned yet (several workers may plan the same day: each run exists once)."""
    if not rows:
        return 0
    stmt = insert(R).values(rows).on_conflict_do_nothing().returning(R.id)
    return len((await session.execute(stmt)).all())


async def claim(
    session: AsyncSession, now: datetime, stale_before: datetime, max_attempts: int
) -> ExportScheduleRun | None:
    """The most overdue run a worker may take: due, failed with attempts left and its back-off over, or
    running with a silent worker; rows other workers hold are skipped."""
    stmt = (
        select(R)
        .where(
            R.next_attempt_at <= now,
            or_(
                R.status == "due",
                and_(R.status == "failed", R.attempts < max_attempts),
                and_(R.status == "running", R.heartbeat_at < stale_before),
            ),
        )
        .order_by(R.next_attempt_at)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def run_for_update(session: AsyncSession, run_id: uuid.UUID) -> ExportScheduleRun | None:
    return (await session.execute(select(R).where(R.id == run_id).with_for_update())).scalar_one_or_none()


async def beat(session: AsyncSession, run_id: uuid.UUID, now: datetime) -> None:
    await session.execute(update(R).where(R.id == run_id, R.status == "running").values(heartbeat_at=now))


async def superseded(session: AsyncSession, run: ExportScheduleRun) -> bool:
    """Whether a later run of the same schedule owes the same month's file (so this one must not write
    over it): same month, through a later day, or through the same day but planned after it."""
    if run.kind == "daily":
        return False
    other = R.__table__.alias("later")
    stmt = select(
        exists().where(
            other.c.schedule_id == run.schedule_id,
            other.c.id != run.id,
            other.c.kind != "daily",
            other.c.range_from == run.range_from,
            other.c.status.in_(("due", "running", "done")),
            or_(
                other.c.range_to > run.range_to,
                and_(other.c.range_to == run.range_to, other.c.created_at > run.created_at),
            ),
        )
    )
    return bool(await session.scalar(stmt))

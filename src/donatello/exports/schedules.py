"""Scheduled exports: finance defines what is dropped into storage each day; the worker plans the files
each schedule owes (``drops.owed_on``), runs them and records the outcome, retrying failures with
back-off. Every change and every run's outcome is audited."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from donatello import audit
from donatello.budgets.periods import organization_timezone
from donatello.config import Settings
from donatello.core.clock import utcnow
from donatello.core.errors import NotFound
from donatello.exports import drops, schedule_repository
from donatello.exports.files import ExportRange
from donatello.exports.schemas import ExportRunRead, ExportScheduleCreate, ExportScheduleRead
from donatello.exports.service import focus_version_for
from donatello.models import ExportSchedule, ExportScheduleRun
from donatello.organizations import service as organizations
from donatello.tenancy import Action, Principal, ensure

#: How many of a schedule's latest runs a read shows.
RECENT_RUNS = 10


async def create(
    session: AsyncSession, principal: Principal, body: ExportScheduleCreate, settings: Settings
) -> ExportScheduleRead:
    ensure(principal, Action.EXPORT_COSTS)
    schedule = schedule_repository.add(
        session,
        ExportSchedule(
            organization_id=principal.organization_id,
            created_by=principal.user_id,
            name=body.name,
            format=body.format,
            focus_version=focus_version_for(body.format, body.focus_version),
            daily_at=time.fromisoformat(body.daily_at),
            daily=body.daily,
            month_to_date=body.month_to_date,
            enabled=True,
        ),
    )
    await session.flush()
    await session.refresh(schedule)
    await _audit(session, principal, schedule, "export_schedule.created")
    return await describe(session, schedule, settings)


async def listed(session: AsyncSession, principal: Principal, settings: Settings) -> list[ExportScheduleRead]:
    found = await schedule_repository.schedules(session, principal.organization_id)
    return [await describe(session, schedule, settings) for schedule in found]


async def find(session: AsyncSession, principal: Principal, schedule_id: uuid.UUID) -> ExportSchedule:
    schedule = await schedule_repository.schedule(session, principal.organization_id, schedule_id)
    if schedule is None:
        raise NotFound("export schedule", schedule_id)
    return schedule


async def set_enabled(
    session: AsyncSession, principal: Principal, schedule_id: uuid.UUID, enabled: bool, settings: Settings
) -> ExportScheduleRead:
    ensure(principal, Action.EXPORT_COSTS)
    schedule = await find(session, principal, schedule_id)
    if schedule.enabled != enabled:
        schedule.enabled = enabled
        await session.flush()
        await _audit(session, principal, schedule, "export_schedule.updated", {"enabled": enabled})
    return await describe(session, schedule, settings)


async def delete(session: AsyncSession, principal: Principal, schedule_id: uuid.UUID) -> None:
    """The schedule and its runs' records go; files already dropped stay where they are."""
    ensure(principal, Action.EXPORT_COSTS)
    schedule = await find(session, principal, schedule_id)
    await _audit(session, principal, schedule, "export_schedule.deleted")
    await session.delete(schedule)
    await session.flush()


async def describe(session: AsyncSession, schedule: ExportSchedule, settings: Settings) -> ExportScheduleRead:
    organization = await organizations.find(session, schedule.organization_id)
    runs = await schedule_repository.runs_of(session, schedule.id, RECENT_RUNS)
    return ExportScheduleRead(
        id=schedule.id,
        name=schedule.name,
        format=schedule.format,
        focus_version=schedule.focus_version,
        daily_at=schedule.daily_at.isoformat(timespec="minutes"),
        timezone=organization_timezone(organization.settings),
        daily=schedule.daily,
        month_to_date=schedule.month_to_date,
        enabled=schedule.enabled,
        container=settings.export_drop_container,
        created_at=schedule.created_at,
        runs=[ExportRunRead.model_validate(run, from_attributes=True) for run in runs],
    )


async def _audit(
    session: AsyncSession,
    principal: Principal,
    schedule: ExportSchedule,
    event_type: str,
    extra: dict[str, object] | None = None,
) -> None:
    await audit.record_event(
        session,
        event_type,
        resource=("export_schedule", schedule.id),
        organization_id=schedule.organization_id,
        actor=principal,
        details={
            "name": schedule.name,
            "format": schedule.format,
            "focus_version": schedule.focus_version,
            "daily_at": schedule.daily_at.isoformat(timespec="minutes"),
            "daily": schedule.daily,
            "month_to_date": schedule.month_to_date,
            **(extra or {}),
        },
    )


# --- the worker's side ---------------------------------------------------------------------------------


async def plan_due(session: AsyncSession, settings: Settings, now: datetime | None = None) -> int:
    """Plan the files every enabled schedule owes at ``now`` (each once, whichever worker plans it)."""
    now = now or utcnow()
    rows: list[dict[str, object]] = []
    for schedule, organization in await schedule_repository.enabled_with_organizations(session):
        timezone = organization_timezone(organization.settings)
        local = now.astimezone(ZoneInfo(timezone))
        owed = drops.owed_on(
            local,
            schedule.daily_at,
            daily=schedule.daily,
            month_to_date=schedule.month_to_date,
            close_after_days=settings.export_month_close_days,
            since=schedule.created_at.astimezone(ZoneInfo(timezone)).date(),
        )
        for item in owed:
            starts, ends = item.instants(timezone)
            rows.append(
                {
                    "organization_id": schedule.organization_id,
                    "schedule_id": schedule.id,
                    "kind": item.kind,
                    "range_from": starts,
                    "range_to": ends,
                    "next_attempt_at": now,
                }
            )
    return await schedule_repository.plan(session, rows)


@dataclass(frozen=True)
class ClaimedRun:
    run_id: uuid.UUID
    range: ExportRange
    path: str
    schedule_name: str


async def claim(session: AsyncSession, settings: Settings, now: datetime | None = None) -> ClaimedRun | None:
    """The next run to do, now running (its attempt counted), with its range and where it goes."""
    now = now or utcnow()
    run = await schedule_repository.claim(
        session,
        now,
        now - timedelta(seconds=settings.export_stale_seconds),
        settings.export_schedule_max_attempts,
    )
    if run is None:
        return None
    if await schedule_repository.superseded(session, run):
        run.status, run.finished_at = "superseded", now
        await session.flush()
        return await claim(session, settings, now)
    schedule = await session.get(ExportSchedule, run.schedule_id)
    assert schedule is not None  # the run cascades with its schedule
    organization = await organizations.find(session, run.organization_id)
    timezone = organization_timezone(organization.settings)
    run.status, run.heartbeat_at, run.attempts, run.error = "running", now, run.attempts + 1, None
    await session.flush()
    rng = ExportRange(
        organization.id,
        organization.name,
        timezone,
        run.range_from,
        run.range_to,
        None,
        schedule.format,
        schedule.focus_version,
    )
    path = drops.path_of(
        run.kind, rng.first_day, schedule.format, schedule.focus_version, organization.domain, schedule.name
    )
    return ClaimedRun(run.id, rng, path, schedule.name)


async def beat(session: AsyncSession, run_id: uuid.UUID) -> None:
    await schedule_repository.beat(session, run_id, utcnow())


async def complete(session: AsyncSession, run_id: uuid.UUID, path: str, rows: int) -> None:
    run = await _run(session, run_id)
    run.status, run.path, run.rows_written, run.finished_at = "done", path, rows, utcnow()
    await session.flush()
    await _run_event(session, run, "success", None)


async def fail(session: AsyncSession, run_id: uuid.UUID, error: str, now: datetime | None = None) -> None:
    """Failed: tried again after a back-off that doubles (1 minute, 2, 4, … at most an hour) until the
    attempts run out, when the failure stays for a person to see."""
    run = await _run(session, run_id)
    now = now or utcnow()
    run.status, run.error, run.finished_at = "failed", error[:1000], now
    run.next_attempt_at = now + timedelta(seconds=min(60 * 2 ** (run.attempts - 1), 3600))
    await session.flush()
    await _run_event(session, run, "failure", run.error)


async def _run(session: AsyncSession, run_id: uuid.UUID) -> ExportScheduleRun:
    run = await schedule_repository.run_for_update(session, run_id)
    if run is None:
        raise NotFound("export run", run_id)
    return run


async def _run_event(session: AsyncSession, run: ExportScheduleRun, status: str, error: str | None) -> None:
    await audit.record_event(
        session,
        "export_schedule.run_completed",
        action="scheduled_export_written" if status == "success" else "scheduled_export_failed",
        resource=("export_schedule", run.schedule_id),
        organization_id=run.organization_id,
        status=status,
        error=error,
        details={
            "run_id": run.id,
            "kind": run.kind,
            "from": run.range_from,
            "to": run.range_to,
            "path": run.path,
            "rows": run.rows_written,
            "attempts": run.attempts,
        },
    )

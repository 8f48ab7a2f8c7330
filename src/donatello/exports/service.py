"""Finance export requests: validate the range, audit who exported what, and either stream the file now
or queue a background job (ranges over the configured size) that writes it to storage."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from donatello import audit
from donatello.budgets.periods import BadBound, organization_timezone, query_range
from donatello.config import Settings
from donatello.core.clock import utcnow
from donatello.core.errors import NotFound
from donatello.core.money import to_cents
from donatello.core.pagination import decode_cursor, page_of
from donatello.exports import repository
from donatello.exports.errors import UnknownFormat
from donatello.exports.files import FOCUS_FORMATS, FORMATS, ExportRange
from donatello.exports.layouts import DEFAULT_FOCUS_VERSION, FOCUS_VERSIONS
from donatello.exports.schemas import ExportJobRead
from donatello.models import ExportJob
from donatello.organizations import service as organizations
from donatello.reports.errors import InvalidRange
from donatello.tenancy import Action, Principal, ensure


@dataclass(frozen=True)
class ExportPlan:
    range: ExportRange
    job: ExportJob | None  # set when the export runs in the background


async def resolve_range(
    session: AsyncSession,
    principal: Principal,
    starts: str,
    ends: str,
    department_id: uuid.UUID | None,
    export_format: str,
    focus_version: str | None = None,
) -> ExportRange:
    return await range_for(
        session, principal.organization_id, starts, ends, department_id, export_format, focus_version
    )


async def range_for(
    session: AsyncSession,
    organization_id: uuid.UUID,
    starts: str,
    ends: str,
    department_id: uuid.UUID | None,
    export_format: str,
    focus_version: str | None = None,
) -> ExportRange:
    """An organization's export range from the request's text (dates are local days, ``to`` inclusive)."""
    if export_format not in FORMATS:
        raise UnknownFormat(f"format must be one of {', '.join(FORMATS)}", field="format")
    focus_version = focus_version_for(export_format, focus_version)
    organization = await organizations.find(session, organization_id)
    name, timezone = organization.name, organization_timezone(organization.settings)
    try:
        begin, finish = query_range(starts, ends, timezone)
    except BadBound as bad:
        raise InvalidRange(str(bad), field=bad.field) from None
    assert begin is not None and finish is not None  # both were given
    if (
        department_id is not None
        and await repository.department(session, organization_id, department_id) is None
    ):
        raise NotFound("department", department_id)
    return ExportRange(
        organization_id, name, timezone, begin, finish, department_id, export_format, focus_version
    )


def focus_version_for(export_format: str, asked: str | None) -> str | None:
    """The FOCUS version to write: the one asked for (1.2 by default) for a FOCUS format, none otherwise."""
    if export_format not in FOCUS_FORMATS:
        if asked is not None:
            raise UnknownFormat(
                "focus_version applies only to the focus and focus-csv formats", field="focus_version"
            )
        return None
    version = asked or DEFAULT_FOCUS_VERSION
    if version not in FOCUS_VERSIONS:
        raise UnknownFormat(
            f"focus_version must be one of {', '.join(FOCUS_VERSIONS)}", field="focus_version"
        )
    return version


async def operator_export(
    session: AsyncSession,
    organization_id: uuid.UUID,
    starts: str,
    ends: str,
    department_id: uuid.UUID | None,
    export_format: str,
    focus_version: str | None = None,
) -> tuple[ExportRange, int]:
    """An export run by an operator (``donatello export``): its range and estimated rows, audited as the
    API's, with the platform as the actor."""
    rng = await range_for(session, organization_id, starts, ends, department_id, export_format, focus_version)
    estimate = await repository.estimated_rows(
        session, rng.organization_id, rng.first_day, rng.last_day, rng.department_id
    )
    await audit.record_event(
        session,
        "cost_events.exported",
        action="cost_exported",
        resource=("cost_events", None),
        organization_id=rng.organization_id,
        details={
            "from": rng.starts,
            "to": rng.ends,
            "department_id": rng.department_id,
            "format": rng.format,
            "focus_version": rng.focus_version,
            "rows_estimate": estimate,
            "via": "cli",
        },
    )
    return rng, estimate


# --- background jobs -----------------------------------------------------------------------------------


async def claim_job(session: AsyncSession, *, stale_after: timedelta) -> tuple[ExportJob, ExportRange] | None:
    """The oldest queued (or abandoned) job — rows other workers hold are skipped — now running, with its
    range."""
    now = utcnow()
    job = await repository.claim_queued_job(session, stale_before=now - stale_after)
    if job is None:
        return None
    organization = await organizations.find(session, job.organization_id)
    job.status, job.rows_written, job.error, job.storage_name = "running", 0, None, None
    job.heartbeat_at = now
    await session.flush()
    rng = ExportRange(
        job.organization_id,
        organization.name,
        organization_timezone(organization.settings),
        job.range_from,
        job.range_to,
        job.department_id,
        job.format,
        job.focus_version,
    )
    return job, rng


def storage_name(job_id: uuid.UUID, rng: ExportRange) -> str:
    return f"exports/{rng.organization_id}/{job_id}/{rng.filename()}"


async def record_progress(session: AsyncSession, job_id: uuid.UUID, rows_written: int) -> None:
    await repository.set_progress(session, job_id, rows_written)


async def complete_job(session: AsyncSession, job_id: uuid.UUID, name: str, rows_written: int) -> None:
    job = await _job(session, job_id)
    job.status, job.storage_name, job.rows_written = "done", name, rows_written
    job.finished_at = utcnow()
    await audit.record(session, _job_event(job, "success", None))


async def fail_job(session: AsyncSession, job_id: uuid.UUID, error: str) -> None:
    job = await _job(session, job_id)
    job.status, job.storage_name, job.error = "failed", None, error[:1000]
    job.finished_at = utcnow()
    await audit.record(session, _job_event(job, "failure", job.error))


async def _job(session: AsyncSession, job_id: uuid.UUID) -> ExportJob:
    job = await repository.job_for_update(session, job_id)
    if job is None:
        raise NotFound("export", job_id)
    return job


def _job_event(job: ExportJob, status: str, error: str | None) -> audit.AuditEvent:
    return audit.event(
        "cost_events.export_completed",
        action="cost_export_completed" if status == "success" else "cost_export_failed",
        resource=("export_job", job.id),
        organization_id=job.organization_id,
        actor=audit.Actor(job.requested_by),
        status=status,
        error=error,
        details={
            "from": job.range_from,
            "to": job.range_to,
            "department_id": job.department_id,
            "format": job.format,
            "rows_written": job.rows_written,
            "storage_name": job.storage_name,
        },
    )


async def request_export(
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    starts: str,
    ends: str,
    department_id: uuid.UUID | None,
    export_format: str,
    focus_version: str | None = None,
) -> ExportPlan:
    """Audit the export and decide how it runs: inline when the range is small enough, else as a job."""
    ensure(principal, Action.EXPORT_COSTS)
    rng = await resolve_range(session, principal, starts, ends, department_id, export_format, focus_version)
    estimate = await repository.estimated_rows(
        session, rng.organization_id, rng.first_day, rng.last_day, department_id
    )
    days = (rng.last_day - rng.first_day).days + 1
    job = None
    if estimate > settings.export_inline_max_rows or days > settings.export_inline_max_days:
        job = repository.add_job(
            session,
            ExportJob(
                organization_id=rng.organization_id,
                requested_by=principal.user_id,
                department_id=department_id,
                range_from=rng.starts,
                range_to=rng.ends,
                format=export_format,
                focus_version=rng.focus_version,
                rows_estimate=estimate,
            ),
        )
        await session.flush()
    await audit.record_event(
        session,
        "cost_events.exported",
        action="cost_export_queued" if job else "cost_exported",
        resource=("export_job" if job else "cost_events", job.id if job else None),
        organization_id=rng.organization_id,
        actor=principal,
        details={
            "from": rng.starts,
            "to": rng.ends,
            "department_id": department_id,
            "format": export_format,
            "focus_version": rng.focus_version,
            "rows_estimate": estimate,
        },
    )
    return ExportPlan(rng, job)


async def find_job(session: AsyncSession, principal: Principal, job_id: uuid.UUID) -> ExportJob:
    job = await repository.job(session, principal.organization_id, job_id)
    if job is None:
        raise NotFound("export", job_id)
    return job


async def list_jobs(
    session: AsyncSession, principal: Principal, cursor: str | None, limit: int
) -> tuple[list[ExportJob], str | None]:
    """The organization's export jobs, newest first (a lost job id is never unrecoverable)."""
    rows = await repository.jobs(session, principal.organization_id, decode_cursor(cursor, 2), limit + 1)
    return page_of(rows, limit, key=lambda row: [row.created_at.isoformat(), row.id])


def describe(job: ExportJob, download_url: str | None) -> ExportJobRead:
    if job.status == "done":
        progress = Decimal(100)
    elif job.rows_estimate:
        progress = min(Decimal(99), Decimal(job.rows_written) * 100 / job.rows_estimate)
    else:
        progress = Decimal(0)
    return ExportJobRead(
        id=job.id,
        status=job.status,
        format=job.format,
        focus_version=job.focus_version,
        range_from=job.range_from,
        range_to=job.range_to,
        department_id=job.department_id,
        rows_estimate=job.rows_estimate,
        rows_written=job.rows_written,
        progress_percent=to_cents(progress),
        download_url=download_url,
        error=job.error,
        created_at=job.created_at,
        finished_at=job.finished_at,
    )


async def beat(session: AsyncSession, job_id: uuid.UUID) -> None:
    """The running worker is alive (its job is not taken over)."""
    await repository.beat(session, job_id, utcnow())

"""SQL for cost exports: one ``COPY`` of ``cost_events`` streamed row by row (PostgreSQL formats the
values), the range's size from the rollups, and the background export jobs' queue."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import date, datetime
from typing import Any

import pyarrow as pa
from sqlalchemy import and_, func, or_, select, text, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.core.spreadsheets import inert_sql
from donatello.exports.layouts import Column, Layout
from donatello.models import CostDailyRollup, Department, ExportJob

R = CostDailyRollup
ISO_UTC = 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'


def _formatted(column: Column, *, spreadsheet: bool) -> str:
    """The column's SQL written the way its Arrow type reads it back (and a CSV reader expects); for a
    spreadsheet (the CSV formats), text that a spreadsheet would run as a formula is made inert."""
    kind = column.type
    if pa.types.is_decimal(kind):
        return f"({column.sql})::numeric({kind.precision}, {kind.scale})"
    if pa.types.is_timestamp(kind):
        return f"to_char(({column.sql}) AT TIME ZONE 'UTC', '{ISO_UTC}')"
    if pa.types.is_date(kind):
        return f"({column.sql})::date"
    if pa.types.is_integer(kind):
        return f"({column.sql})::{'bigint' if kind.bit_width == 64 else 'integer'}"
    return inert_sql(column.sql) if spreadsheet and not column.ours else f"({column.sql})::text"


def export_copy(
    layout: Layout,
    organization_id: uuid.UUID,
    organization_name: str,
    timezone: str,
    starts: datetime,
    ends: datetime,
    department_id: uuid.UUID | None,
    *,
    spreadsheet: bool,
) -> tuple[str, dict[str, Any]]:
    """``COPY`` of the range's cost events in ledger order as CSV with a header, and its parameters;
    ``spreadsheet``: the rows are the file itself (a CSV format), not read back into Parquet."""
    select_list = ",\n  ".join(
        f'{_formatted(column, spreadsheet=spreadsheet)} AS "{column.name}"' for column in layout.columns
    )
    department = " AND e.department_id = %(department)s" if department_id is not None else ""
    sql = (
        f"COPY (SELECT\n  {select_list}\n"
        "FROM cost_events AS e\n"
        "WHERE e.organization_id = %(org)s AND e.created_at >= %(starts)s AND e.created_at < %(ends)s"
        f"{department}\n"
        "ORDER BY e.created_at, e.id) TO STDOUT WITH (FORMAT csv, HEADER)"
    )
    params = {
        "org": organization_id,
        "org_name": organization_name,
        "tz": timezone,
        "starts": starts,
        "ends": ends,
        "department": department_id,
    }
    return sql, params


async def copy_out(
    session: AsyncSession, statement: str, params: dict[str, Any], *, timezone: str
) -> AsyncIterator[memoryview]:
    """Run ``COPY … TO STDOUT`` on the session's connection (inside its transaction, so row-level
    security applies) and yield each row's bytes as PostgreSQL sends them: the header first, then one
    item per row (a value may hold a newline; a row is still one item). The session's time zone is the
    organization's while it runs (local times are formatted with their offset)."""
    connection = await session.connection()
    previous = (await connection.execute(text("SELECT current_setting('TimeZone')"))).scalar_one()
    await connection.execute(text("SELECT set_config('TimeZone', :tz, true)"), {"tz": timezone})
    driver: Any = (await connection.get_raw_connection()).driver_connection
    async with driver.cursor() as cursor, cursor.copy(statement, params) as copy:
        async for row in copy:
            yield row
    # Not on failure: the transaction is lost then, and the setting with it.
    await connection.execute(text("SELECT set_config('TimeZone', :tz, true)"), {"tz": previous})


async def department(
    session: AsyncSession, organization_id: uuid.UUID, department_id: uuid.UUID
) -> Department | None:
    stmt = select(Department).where(
        Department.id == department_id, Department.organization_id == organization_id
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def estimated_rows(
    session: AsyncSession,
    organization_id: uuid.UUID,
    first_day: date,
    last_day: date,
    department_id: uuid.UUID | None,
) -> int:
    """How many cost events a range holds, from the rollups (one row per group and day, not per event)."""
    stmt = select(func.coalesce(func.sum(R.events), 0)).where(
        R.organization_id == organization_id, R.day >= first_day, R.day <= last_day
    )
    if department_id is not None:
        stmt = stmt.where(R.department_id == department_id)
    return int((await session.execute(stmt)).scalar_one())


# --- export jobs ---------------------------------------------------------------------------------------


def add_job(session: AsyncSession, job: ExportJob) -> ExportJob:
    session.add(job)
    return job


async def job(session: AsyncSession, organization_id: uuid.UUID, job_id: uuid.UUID) -> ExportJob | None:
    stmt = select(ExportJob).where(ExportJob.id == job_id, ExportJob.organization_id == organization_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def jobs(
    session: AsyncSession, organization_id: uuid.UUID, after: list[Any] | None, limit: int
) -> list[ExportJob]:
    """An organization's export jobs, newest first, keyset on (created_at, id)."""
    stmt = select(ExportJob).where(ExportJob.organization_id == organization_id)
    if after is not None:
        stmt = stmt.where(
            tuple_(ExportJob.created_at, ExportJob.id)
            < tuple_(datetime.fromisoformat(after[0]), uuid.UUID(after[1]))
        )
    stmt = stmt.order_by(ExportJob.created_at.desc(), ExportJob.id.desc()).limit(limit)
    return list((await session.execute(stmt)).scalars())


async def claim_queued_job(session: AsyncSession, *, stale_before: datetime) -> ExportJob | None:
    """The oldest job waiting to run: queued, or running on a worker that stopped beating before
    ``stale_before`` (it died; the job starts again from the beginning)."""
    abandoned = and_(ExportJob.status == "running", ExportJob.heartbeat_at < stale_before)
    stmt = (
        select(ExportJob)
        .where(or_(ExportJob.status == "queued", abandoned))
        .order_by(ExportJob.created_at)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def job_for_update(session: AsyncSession, job_id: uuid.UUID) -> ExportJob | None:
    stmt = select(ExportJob).where(ExportJob.id == job_id).with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def set_progress(session: AsyncSession, job_id: uuid.UUID, rows_written: int) -> None:
    await session.execute(
        update(ExportJob)
        .where(ExportJob.id == job_id, ExportJob.status == "running")
        .values(rows_written=rows_written)
    )


async def beat(session: AsyncSession, job_id: uuid.UUID, at: datetime) -> None:
    await session.execute(
        update(ExportJob).where(ExportJob.id == job_id, ExportJob.status == "running").values(heartbeat_at=at)
    )

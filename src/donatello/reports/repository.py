"""SQL for reports and exports. Reports read ``cost_daily_rollups`` only; the export is one ``COPY`` of
``cost_events`` streamed row by row (PostgreSQL formats the values)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa
from sqlalchemy import Date, DateTime, and_, cast, func, or_, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.models import (
    BudgetDecisionCount,
    BudgetIncreaseRequest,
    CostDailyRollup,
    Department,
    DepartmentBudget,
    DepartmentBudgetPeriod,
    ExportJob,
    Organization,
)
from donatello.reports.layouts import Column, Layout

R = CostDailyRollup
NET = R.charges_aud + R.refunds_aud + R.corrections_aud
#: Per user: the e-mail they spent under last in the rows grouped (frozen at spend time, like the ledger).
LATEST_EMAIL = func.array_agg(aggregate_order_by(R.user_email, R.day.desc()))[1].label("email")

ISO_UTC = 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'


def _formatted(column: Column) -> str:
    """The column's SQL written the way its Arrow type reads it back (and a CSV reader expects)."""
    kind = column.type
    if pa.types.is_decimal(kind):
        return f"({column.sql})::numeric({kind.precision}, {kind.scale})"
    if pa.types.is_timestamp(kind):
        return f"to_char(({column.sql}) AT TIME ZONE 'UTC', '{ISO_UTC}')"
    if pa.types.is_date(kind):
        return f"({column.sql})::date"
    if pa.types.is_integer(kind):
        return f"({column.sql})::integer"
    return f"({column.sql})::text"


def export_copy(
    layout: Layout,
    organization_id: uuid.UUID,
    organization_name: str,
    timezone: str,
    starts: datetime,
    ends: datetime,
    department_id: uuid.UUID | None,
) -> tuple[str, dict[str, Any]]:
    """``COPY`` of the range's cost events in ledger order as CSV with a header, and its parameters."""
    select_list = ",\n  ".join(f'{_formatted(column)} AS "{column.name}"' for column in layout.columns)
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


async def organization(
    session: AsyncSession, organization_id: uuid.UUID
) -> tuple[str, dict[str, Any]] | None:
    """The organization's name (as exports print it) and settings."""
    row = (
        await session.execute(
            select(Organization.name, Organization.settings).where(Organization.id == organization_id)
        )
    ).one_or_none()
    return (row[0], row[1]) if row else None


async def organization_domain(session: AsyncSession, organization_id: uuid.UUID) -> str | None:
    found: str | None = await session.scalar(
        select(Organization.domain).where(Organization.id == organization_id)
    )
    return found


async def department(
    session: AsyncSession, organization_id: uuid.UUID, department_id: uuid.UUID
) -> Department | None:
    stmt = select(Department).where(
        Department.id == department_id, Department.organization_id == organization_id
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def departments(session: AsyncSession, organization_id: uuid.UUID) -> list[Department]:
    stmt = select(Department).where(Department.organization_id == organization_id).order_by(Department.code)
    return list((await session.execute(stmt)).scalars())


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


# --- reports over rollups ------------------------------------------------------------------------------


def _rollups(department_ids: Sequence[uuid.UUID], first_day: date, last_day: date) -> Any:
    return (R.department_id.in_(department_ids), R.day >= first_day, R.day <= last_day)


async def totals_by_department(
    session: AsyncSession, department_ids: Sequence[uuid.UUID], first_day: date, last_day: date
) -> dict[uuid.UUID, Any]:
    stmt = (
        select(
            R.department_id,
            func.sum(R.charges_aud).label("charges"),
            func.sum(R.refunds_aud).label("refunds"),
            func.sum(R.corrections_aud).label("corrections"),
            func.sum(NET).label("net"),
            func.sum(R.images).label("images"),
            func.sum(R.events).label("events"),
            func.sum(R.charge_count).label("charges_count"),
            func.sum(R.over_budget_count).label("over_budget"),
        )
        .where(*_rollups(department_ids, first_day, last_day))
        .group_by(R.department_id)
    )
    rows: Sequence[Any] = (await session.execute(stmt)).all()
    return {row.department_id: row for row in rows}


async def spend_by(
    session: AsyncSession,
    department_id: uuid.UUID,
    first_day: date,
    last_day: date,
    keys: Sequence[Any],
    *,
    order_by_spend: bool = False,
    limit: int | None = None,
    extra: Sequence[Any] = (),
) -> list[Any]:
    """Net spend, charges, refunds, corrections, images and events grouped by ``keys`` (and any ``extra``
    aggregates, such as ``LATEST_EMAIL``)."""
    stmt = (
        select(
            *keys,
            *extra,
            func.sum(NET).label("net"),
            func.sum(R.charges_aud).label("charges"),
            func.sum(R.refunds_aud).label("refunds"),
            func.sum(R.corrections_aud).label("corrections"),
            func.sum(R.images).label("images"),
            func.sum(R.events).label("events"),
        )
        .where(*_rollups([department_id], first_day, last_day))
        .group_by(*keys)
    )
    stmt = stmt.order_by(func.sum(NET).desc(), *keys) if order_by_spend else stmt.order_by(*keys)
    if limit is not None:
        stmt = stmt.limit(limit)
    rows: Sequence[Any] = (await session.execute(stmt)).all()
    return list(rows)


async def budget(session: AsyncSession, department_id: uuid.UUID) -> DepartmentBudget | None:
    stmt = select(DepartmentBudget).where(DepartmentBudget.department_id == department_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def closed_budgets(
    session: AsyncSession, department_ids: Sequence[uuid.UUID], period_start: date
) -> dict[uuid.UUID, tuple[Decimal, Decimal]]:
    """(monthly amount, top-ups) of each department's closed period."""
    stmt = select(
        DepartmentBudgetPeriod.department_id,
        DepartmentBudgetPeriod.monthly_budget_aud,
        DepartmentBudgetPeriod.top_up_aud,
    ).where(
        DepartmentBudgetPeriod.department_id.in_(department_ids),
        DepartmentBudgetPeriod.period_start == period_start,
    )
    return {row[0]: (row[1], row[2]) for row in (await session.execute(stmt)).all()}


async def budget_decisions(
    session: AsyncSession, department_ids: Sequence[uuid.UUID], first_period: date, last_period: date
) -> dict[tuple[uuid.UUID, date], tuple[int, int]]:
    """(refused, admitted over budget) per (department, period start) for periods starting in the range:
    rows kept by the budget with each decision — never a scan of the audit log."""
    stmt = select(
        BudgetDecisionCount.department_id,
        BudgetDecisionCount.period_start,
        BudgetDecisionCount.refused,
        BudgetDecisionCount.over_budget,
    ).where(
        BudgetDecisionCount.department_id.in_(department_ids),
        BudgetDecisionCount.period_start >= first_period,
        BudgetDecisionCount.period_start <= last_period,
    )
    return {(row[0], row[1]): (int(row[2]), int(row[3])) for row in (await session.execute(stmt)).all()}


async def totals_by_month(
    session: AsyncSession, department_id: uuid.UUID, first_day: date, last_day: date
) -> dict[date, Any]:
    """The same figures as ``totals_by_department``, one row per calendar month (a budget period: rollup
    days are local dates), in one query."""
    # As a timestamp without time zone: truncating a date cast to timestamptz consults the zone per row.
    month = func.date_trunc("month", cast(R.day, DateTime)).cast(Date).label("month")
    stmt = (
        select(
            month,
            func.sum(R.charges_aud).label("charges"),
            func.sum(R.refunds_aud).label("refunds"),
            func.sum(R.corrections_aud).label("corrections"),
            func.sum(NET).label("net"),
            func.sum(R.images).label("images"),
            func.sum(R.events).label("events"),
            func.sum(R.charge_count).label("charges_count"),
            func.sum(R.over_budget_count).label("over_budget"),
        )
        .where(*_rollups([department_id], first_day, last_day))
        .group_by(month)
    )
    rows: Sequence[Any] = (await session.execute(stmt)).all()
    return {row.month: row for row in rows}


async def closed_budgets_between(
    session: AsyncSession, department_id: uuid.UUID, first_period: date, last_period: date
) -> dict[date, tuple[Decimal, Decimal]]:
    stmt = select(
        DepartmentBudgetPeriod.period_start,
        DepartmentBudgetPeriod.monthly_budget_aud,
        DepartmentBudgetPeriod.top_up_aud,
    ).where(
        DepartmentBudgetPeriod.department_id == department_id,
        DepartmentBudgetPeriod.period_start >= first_period,
        DepartmentBudgetPeriod.period_start <= last_period,
    )
    return {row[0]: (row[1], row[2]) for row in (await session.execute(stmt)).all()}


async def top_ups_by_day(
    session: AsyncSession, department_id: uuid.UUID, period_start: date, timezone: str
) -> dict[date, Decimal]:
    """Top-ups approved for the period, by the local day they were approved on."""
    day = func.date(func.timezone(timezone, BudgetIncreaseRequest.decided_at)).label("day")
    stmt = (
        select(day, func.sum(BudgetIncreaseRequest.approved_amount_aud))
        .where(
            BudgetIncreaseRequest.department_id == department_id,
            BudgetIncreaseRequest.period_start == period_start,
            BudgetIncreaseRequest.subject == "department",
            BudgetIncreaseRequest.scope == "this_period",
            BudgetIncreaseRequest.status == "approved",
        )
        .group_by(day)
    )
    return {row[0]: row[1] for row in (await session.execute(stmt)).all()}


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

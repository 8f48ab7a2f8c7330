"""SQL for reports: they read ``cost_daily_rollups`` (never a scan of ``cost_events``), except spend by
cost centre, which the rollups do not key: it reads one organization's ledger for one period through
``idx_cost_events_org_created_at``."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Date, DateTime, cast, func, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.models import (
    BudgetDecisionCount,
    BudgetIncreaseRequest,
    CostDailyRollup,
    CostEvent,
    Department,
    DepartmentBudgetPeriod,
)

R = CostDailyRollup
NET = R.charges_aud + R.refunds_aud + R.corrections_aud
#: Per user: the e-mail they spent under last in the rows grouped (frozen at spend time, like the ledger).
LATEST_EMAIL = func.array_agg(aggregate_order_by(R.user_email, R.day.desc()))[1].label("email")


async def departments(session: AsyncSession, organization_id: uuid.UUID) -> list[Department]:
    stmt = select(Department).where(Department.organization_id == organization_id).order_by(Department.code)
    return list((await session.execute(stmt)).scalars())


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


async def budget_raises_by_day(
    session: AsyncSession, department_id: uuid.UUID, starts: datetime, ends: datetime, timezone: str
) -> list[tuple[date, Decimal]]:
    """Approved raises of the department's budget decided in ``[starts, ends)`` (top-ups for the period
    and permanent raises alike), summed by the local day they were approved on."""
    day = func.date(func.timezone(timezone, BudgetIncreaseRequest.decided_at)).label("day")
    stmt = (
        select(day, func.sum(BudgetIncreaseRequest.approved_amount_aud))
        .where(
            BudgetIncreaseRequest.department_id == department_id,
            BudgetIncreaseRequest.decided_at >= starts,
            BudgetIncreaseRequest.decided_at < ends,
            BudgetIncreaseRequest.subject == "department",
            BudgetIncreaseRequest.status == "approved",
        )
        .group_by(day)
    )
    return [(row[0], row[1]) for row in (await session.execute(stmt)).all()]


async def spend_by_cost_centre(
    session: AsyncSession, organization_id: uuid.UUID, starts: datetime, ends: datetime
) -> Sequence[Any]:
    """An organization's cost events in ``[starts, ends)`` summed by the cost centre frozen on each."""
    e = CostEvent
    amount = func.coalesce(func.sum(e.actual_cost_aud), Decimal(0))

    def of_kind(kind: str) -> Any:
        return func.coalesce(func.sum(e.actual_cost_aud).filter(e.kind == kind), Decimal(0))

    stmt = (
        select(
            e.cost_center,
            amount.label("net"),
            of_kind("charge").label("charges"),
            of_kind("refund").label("refunds"),
            of_kind("correction").label("corrections"),
            func.coalesce(func.sum(e.image_count).filter(e.kind == "charge"), 0).label("images"),
            func.count().label("events"),
        )
        .where(e.organization_id == organization_id, e.created_at >= starts, e.created_at < ends)
        .group_by(e.cost_center)
        .order_by(amount.desc(), e.cost_center.nulls_last())
    )
    return (await session.execute(stmt)).all()

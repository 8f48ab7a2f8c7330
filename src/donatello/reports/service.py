"""Manager and organization reports. Every figure comes from ``cost_daily_rollups`` (kept in step with
the ledger in the same transaction), never from a scan of ``cost_events``; a period is a calendar month
in the organization's time zone, the same one budgets use, so rollup days add up to budget periods."""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from donatello.budgets import account
from donatello.budgets import service as budget_service
from donatello.budgets.errors import NotYourDepartment
from donatello.budgets.periods import Period, month_starting, organization_timezone, period_at
from donatello.core.clock import utcnow
from donatello.core.errors import Forbidden
from donatello.core.money import TEN_THOUSANDTH, to_cents
from donatello.models import Department
from donatello.organizations import service as organizations
from donatello.reports import budget_line, repository
from donatello.reports.errors import InvalidRange
from donatello.reports.repository import R
from donatello.reports.schemas import (
    BurnDown,
    BurnDownDay,
    CurrentStatus,
    OrganizationRollup,
    PeriodComparison,
    PeriodSummary,
    SpendRow,
    SpendTable,
    Totals,
)
from donatello.tenancy import Principal, scoped_get

ZERO = Decimal(0)
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
GROUPS = ("user", "model", "day", "top-spenders")


async def timezone_of(session: AsyncSession, organization_id: uuid.UUID) -> str:
    return organization_timezone((await organizations.find(session, organization_id)).settings)


def parse_period(value: str | None, timezone: str, now: datetime) -> Period:
    """``YYYY-MM`` (a month in the organization's zone), or the current period when absent."""
    if value is None:
        return period_at(now, timezone)
    match = _MONTH.match(value)
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise InvalidRange(f"period must be a month as YYYY-MM, not {value[:40]!r}", field="period")
    if int(match.group(1)) < 2000:
        raise InvalidRange(f"period {value} is before 2000; there is no spend that old", field="period")
    return month_starting(date(int(match.group(1)), int(match.group(2)), 1), timezone)


async def readable_department(
    session: AsyncSession, principal: Principal, department_id: uuid.UUID
) -> Department:
    """Another organization's department is not found; a manager reads their own department only."""
    department = await scoped_get(session, principal, Department, department_id)
    if not principal.reaches_department(department.id):
        raise NotYourDepartment("Department managers see their own department's reports only")
    return department


def _totals(row: Any | None) -> Totals:
    if row is None:
        return Totals(
            net_aud=ZERO, charges_aud=ZERO, refunds_aud=ZERO, corrections_aud=ZERO, images=0, events=0
        )
    return Totals(
        net_aud=row.net,
        charges_aud=row.charges,
        refunds_aud=row.refunds,
        corrections_aud=row.corrections,
        images=int(row.images),
        events=int(row.events),
    )


async def _budgets_for(
    session: AsyncSession, departments: list[Department], period: Period, current: Period
) -> dict[uuid.UUID, account.PeriodBudget]:
    """The budget each department had in ``period``: the closed period's figures, else (current or no
    record) the budget as set now."""
    ids = [d.id for d in departments]
    closed = (
        await repository.closed_budgets(session, ids, period.start) if period.start < current.start else {}
    )
    budgets: dict[uuid.UUID, account.PeriodBudget] = {}
    for department in departments:
        if department.id in closed:
            budgets[department.id] = account.PeriodBudget(*closed[department.id])
        elif (row := await account.stored_budget(session, department.id)) is not None and (
            as_set := account.as_set_for(row, period)
        ) is not None:
            budgets[department.id] = as_set
    return budgets


async def _summaries(
    session: AsyncSession, departments: list[Department], period: Period, now: datetime
) -> list[PeriodSummary]:
    current = period_at(now, period.timezone)
    ids = [d.id for d in departments]
    totals = await repository.totals_by_department(session, ids, period.start, period.end)
    budgets = await _budgets_for(session, departments, period, current)
    decisions = await repository.budget_decisions(session, ids, period.start, period.start)
    return [
        _summary(
            department,
            period,
            totals.get(department.id),
            budgets.get(department.id),
            decisions.get((department.id, period.start), (0, 0)),
        )
        for department in departments
    ]


def _summary(
    department: Department,
    period: Period,
    row: Any,
    period_budget: account.PeriodBudget | None,
    decisions: tuple[int, int],
) -> PeriodSummary:
    figures = _totals(row)
    refused, over_budget = decisions
    budget = period_budget.total if period_budget else None
    return PeriodSummary(
        department_id=department.id,
        department_code=department.code,
        department_name=department.name,
        period_start=period.start,
        period_end=period.end,
        timezone=period.timezone,
        budget_aud=budget,
        base_budget_aud=period_budget.base if period_budget else None,
        top_up_aud=period_budget.top_up if period_budget else ZERO,
        totals=figures,
        utilization_percent=to_cents(figures.net_aud * 100 / budget) if budget else None,
        refused_requests=refused,
        over_budget_requests=over_budget,
        over_budget_charges=int(row.over_budget) if row is not None else 0,
    )


async def current_status(
    session: AsyncSession, principal: Principal, department_id: uuid.UUID, *, at: datetime | None = None
) -> CurrentStatus:
    """This period so far: spend from the rollups, holds and availability from the budget itself."""
    now = at or utcnow()
    department = await readable_department(session, principal, department_id)
    period = period_at(now, await timezone_of(session, department.organization_id))
    (summary,) = await _summaries(session, [department], period, now)
    mode = reserved = available = None
    if await account.stored_budget(session, department.id) is not None:
        status = await budget_service.status(session, principal, department.id, at=now)
        mode, reserved, available = status.enforcement_mode, status.reserved_aud, status.available_aud
    return CurrentStatus(
        **summary.model_dump(), enforcement_mode=mode, reserved_aud=reserved, available_aud=available
    )


async def burn_down(
    session: AsyncSession,
    principal: Principal,
    department_id: uuid.UUID,
    period_text: str | None,
    *,
    at: datetime | None = None,
) -> BurnDown:
    """Cumulative spend per local day against the budget line, with two forecasts to the period's end:
    straight line (average day so far) and trailing 7 days (average of the last 7 elapsed days)."""
    now = at or utcnow()
    department = await readable_department(session, principal, department_id)
    timezone = await timezone_of(session, department.organization_id)
    period = parse_period(period_text, timezone, now)
    today = now.astimezone(ZoneInfo(timezone)).date()
    if period.start > today:
        raise InvalidRange("The period has not started yet", field="period")
    last = min(period.end, today)
    rows = await repository.spend_by(session, department.id, period.start, last, [R.day])
    daily = {row.day: row.net for row in rows}
    budgets = await _budgets_for(session, [department], period, period_at(now, timezone))
    period_budget = budgets.get(department.id)
    budget = period_budget.total if period_budget else None
    # Changes and raises step the line on the day they were made; earlier days keep their amount.
    as_of_days = await budget_line.budget_by_day(session, department, period, period_budget, last)
    total_days = (period.end - period.start).days + 1
    elapsed = (last - period.start).days + 1
    days: list[BurnDownDay] = []
    cumulative = ZERO
    for offset, as_of in enumerate(as_of_days):
        day = period.start + timedelta(days=offset)
        spent = daily.get(day, ZERO)
        cumulative += spent
        line = (as_of * (offset + 1) / total_days).quantize(TEN_THOUSANDTH) if as_of is not None else None
        days.append(
            BurnDownDay(
                day=day, spent_aud=spent, cumulative_aud=cumulative, budget_aud=as_of, budget_line_aud=line
            )
        )
    remaining = total_days - elapsed
    straight = (cumulative + cumulative / elapsed * remaining).quantize(TEN_THOUSANDTH)
    window = days[-7:]
    trailing_rate = sum((d.spent_aud for d in window), ZERO) / len(window)
    trailing = (cumulative + trailing_rate * remaining).quantize(TEN_THOUSANDTH)
    return BurnDown(
        department_id=department.id,
        department_code=department.code,
        period_start=period.start,
        period_end=period.end,
        budget_aud=budget,
        spent_aud=cumulative,
        days_elapsed=elapsed,
        days_in_period=total_days,
        forecast_straight_line_aud=straight,
        forecast_trailing_7_day_aud=trailing,
        projected_over_under_straight_line_aud=straight - budget if budget is not None else None,
        projected_over_under_trailing_7_day_aud=trailing - budget if budget is not None else None,
        days=days,
    )


async def spend_table(
    session: AsyncSession,
    principal: Principal,
    department_id: uuid.UUID,
    group: str,
    period_text: str | None,
    *,
    limit: int = 10,
    at: datetime | None = None,
) -> SpendTable:
    """Spend in a period by user, by provider/model, by local day, or the top spenders."""
    now = at or utcnow()
    department = await readable_department(session, principal, department_id)
    period = parse_period(period_text, await timezone_of(session, department.organization_id), now)
    rows: list[SpendRow]
    if group in ("user", "top-spenders"):
        top = group == "top-spenders"
        found = await repository.spend_by(
            session, department.id, period.start, period.end, [R.user_id],
            order_by_spend=top, limit=limit if top else None, extra=[repository.LATEST_EMAIL],
        )  # fmt: skip
        rows = [_row(str(r.user_id), r.email, r) for r in found]
    elif group == "model":
        found = await repository.spend_by(
            session, department.id, period.start, period.end, [R.provider, R.model]
        )
        rows = [_row(f"{r.provider}/{r.model}", f"{r.provider}/{r.model}", r) for r in found]
    else:
        found = await repository.spend_by(session, department.id, period.start, period.end, [R.day])
        rows = [_row(r.day.isoformat(), r.day.isoformat(), r) for r in found]
    return SpendTable(
        department_id=department.id,
        department_code=department.code,
        period_start=period.start,
        period_end=period.end,
        group_by=group,
        rows=rows,
        total_aud=sum((row.net_aud for row in rows), ZERO),
    )


def _row(key: str, label: str, row: Any) -> SpendRow:
    return SpendRow(
        key=key,
        label=label,
        net_aud=row.net,
        charges_aud=row.charges,
        refunds_aud=row.refunds,
        corrections_aud=row.corrections,
        images=int(row.images),
        events=int(row.events),
    )


async def comparison(
    session: AsyncSession,
    principal: Principal,
    department_id: uuid.UUID,
    count: int,
    *,
    at: datetime | None = None,
) -> PeriodComparison:
    """This period and the ``count - 1`` before it, newest first — four queries whatever ``count``."""
    now = at or utcnow()
    department = await readable_department(session, principal, department_id)
    period = period_at(now, await timezone_of(session, department.organization_id))
    periods = [period]
    while len(periods) < count:
        periods.append(month_starting(periods[-1].start - timedelta(days=1), period.timezone))
    first, last = periods[-1], periods[0]
    totals = await repository.totals_by_month(session, department.id, first.start, last.end)
    closed = await repository.closed_budgets_between(session, department.id, first.start, last.start)
    decisions = await repository.budget_decisions(session, [department.id], first.start, last.start)
    now_budget = await account.stored_budget(session, department.id)
    summaries = [
        _summary(
            department,
            each,
            totals.get(each.start),
            account.PeriodBudget(*closed[each.start])
            if each.start in closed
            else (account.as_set_for(now_budget, each) if now_budget is not None else None),
            decisions.get((department.id, each.start), (0, 0)),
        )
        for each in periods
    ]
    return PeriodComparison(department_id=department.id, department_code=department.code, periods=summaries)


async def organization_rollup(
    session: AsyncSession, principal: Principal, period_text: str | None, *, at: datetime | None = None
) -> OrganizationRollup:
    """Every department of the organization side by side for a period, by utilization (highest first;
    departments without a budget last, by spend)."""
    now = at or utcnow()
    if not principal.reaches_every_department:
        raise Forbidden("The organization rollup is for org admins and finance")
    organization_id = principal.organization_id
    organization = await organizations.find(session, organization_id)
    period = parse_period(period_text, organization_timezone(organization.settings), now)
    departments = await repository.departments(session, organization_id)
    summaries = await _summaries(session, departments, period, now)
    summaries.sort(
        key=lambda s: (
            s.utilization_percent is None,
            -(s.utilization_percent or ZERO),
            -s.totals.net_aud,
            s.department_code,
        )
    )
    return OrganizationRollup(
        organization_id=organization_id,
        organization_domain=organization.domain,
        period_start=period.start,
        period_end=period.end,
        departments=summaries,
        total_aud=sum((s.totals.net_aud for s in summaries), ZERO),
    )

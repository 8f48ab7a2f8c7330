"""A department's budget as of an instant: the current period, rolled over and swept on the way.

Correctness never depends on a reset job: every writer opens the account under the budget row's lock,
which closes stale periods and expires lapsed holds before anything is decided; readers compute the same
figures without writing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import NoReturn

from sqlalchemy.ext.asyncio import AsyncSession

from donatello import audit
from donatello.budgets import repository
from donatello.budgets.errors import BudgetNotConfigured
from donatello.budgets.periods import Period, month_starting, organization_timezone, period_at
from donatello.core import metrics
from donatello.core.errors import NotFound
from donatello.models import Department, DepartmentBudget
from donatello.models.budgets import period_budget


@dataclass(frozen=True)
class PeriodBudget:
    """What one period may spend, in its parts: the monthly amount and the top-ups approved for it alone."""

    base: Decimal
    top_up: Decimal = Decimal(0)

    @property
    def total(self) -> Decimal:
        return period_budget(self.base, self.top_up)


def as_set_for(row: DepartmentBudget, period: Period) -> PeriodBudget | None:
    """The budget row's figures for ``period`` (a period with no closed record): the stored period keeps its
    top-ups; a later one (nothing written since the month turned) starts without any, as a roll-over
    would leave it; an earlier one had no budget (periods close on the first write after them, quiet ones
    included, so an earlier period without a record predates the budget)."""
    if period.start < row.budget_period_start:
        return None
    top_up = row.period_top_up_aud if row.budget_period_start == period.start else Decimal(0)
    return PeriodBudget(row.monthly_budget_aud, top_up)


@dataclass
class Account:
    department: Department
    budget: DepartmentBudget
    period: Period
    overdue_held: Decimal = Decimal(0)  # lapsed holds not swept yet (read-only accounts)
    rolled_over: bool = False  # opening it closed the stored period (writers)
    swept: bool = False  # opening it expired lapsed holds (writers)

    @property
    def spent(self) -> Decimal:
        return self.budget.current_spend_aud

    @property
    def reserved(self) -> Decimal:
        """Money held right now: lapsed holds never count, swept or not."""
        return self.budget.reserved_aud - self.overdue_held

    @property
    def available(self) -> Decimal:
        return self.budget.period_budget_aud - self.spent - self.reserved


async def open_for_update(session: AsyncSession, department_id: uuid.UUID, at: datetime) -> Account:
    """Lock the department's budget, close any period that ended before ``at``, expire lapsed holds."""
    found = await repository.locked_budget(session, department_id, at)
    if found is None:
        await refuse_without_budget(session, department_id)
    row, department, org_settings, lapsed = found
    period = period_at(at, organization_timezone(org_settings))
    rolled_over = await _roll_over(session, row, period, at)
    expired = await repository.expire_overdue_holds(session, department_id, at) if lapsed else []
    if expired:
        metrics.reservations_expired(len(expired))
        row.reserved_aud -= sum((hold.amount_aud for hold in expired), Decimal(0))
        for hold in expired:
            await audit.record_event(
                session,
                "budget.reservation_expired",
                action="reservation_expired",
                resource=("generation", hold.generation_id),
                organization_id=hold.organization_id,
                actor=audit.Actor(hold.user_id),
                details={"department_id": department_id, "amount_aud": hold.amount_aud},
            )
    await session.flush()
    return Account(department, row, period, rolled_over=rolled_over, swept=bool(expired))


async def refuse_without_budget(session: AsyncSession, department_id: uuid.UUID) -> NoReturn:
    """A department with no budget row: 404 when it is not there (or not the caller's), else the refusal."""
    await _department(session, department_id)
    raise BudgetNotConfigured(department_id)


async def open_for_read(session: AsyncSession, department_id: uuid.UUID, at: datetime) -> Account:
    """The same figures as a writer would see at ``at``, without locking or writing anything."""
    department, timezone = await _department(session, department_id)
    row = await repository.budget(session, department_id, lock=False)
    if row is None:
        raise BudgetNotConfigured(department_id)
    period = period_at(at, timezone)
    if row.budget_period_start < period.start:  # nobody has written since the month turned
        session.expunge(row)
        _start(row, period)
    overdue = await repository.overdue_held_amount(session, department_id, at)
    return Account(department=department, budget=row, period=period, overdue_held=overdue)


async def stored_budget(session: AsyncSession, department_id: uuid.UUID) -> DepartmentBudget | None:
    """The budget row as last written (no lock, no roll-over): for readers that place periods themselves."""
    return await repository.budget(session, department_id, lock=False)


async def _department(session: AsyncSession, department_id: uuid.UUID) -> tuple[Department, str]:
    found = await repository.department_with_org_settings(session, department_id)
    if found is None:
        raise NotFound("department", department_id)
    department, org_settings = found
    return department, organization_timezone(org_settings)


async def _roll_over(session: AsyncSession, row: DepartmentBudget, current: Period, at: datetime) -> bool:
    """Close the stored period (and any quiet months after it) when ``at`` is past its end.

    Holds stay held across the boundary: money reserved in one month and settled in the next is spent in
    the month the cost event is written, which is the month finance sees it in.
    """
    if row.budget_period_start >= current.start:
        return False
    await repository.close_period(session, row, at)
    quiet = month_starting(row.budget_period_start, current.timezone).next()
    while quiet.start < current.start:
        await repository.close_period(session, row, at, quiet=quiet)
        quiet = quiet.next()
    await audit.record_event(
        session,
        "budget.period_closed",
        action="period_closed",
        resource=("department_budget", row.id),
        organization_id=row.organization_id,
        details={
            "department_id": row.department_id,
            "period_start": row.budget_period_start,
            "spent_aud": row.current_spend_aud,
            "reserved_at_close_aud": row.reserved_aud,
            "budget_aud": row.monthly_budget_aud,
            "top_up_aud": row.period_top_up_aud,
        },
    )
    _start(row, current)
    row.last_reset_at = at
    return True


def _start(row: DepartmentBudget, period: Period) -> None:
    """The row as ``period`` begins: nothing spent, and no top-up (top-ups end with their period), so
    what it may spend (``period_budget_aud``) is the monthly amount until a top-up is approved."""
    row.current_spend_aud = row.period_top_up_aud = Decimal(0)
    row.budget_period_start, row.budget_period_end = period.start, period.end

"""SQL for budgets, reservations and the ledger. Every write path locks the department's budget row
first (one lock order everywhere, so no deadlocks) and keeps its transaction short."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam, delete, exists, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.budgets.periods import Period
from donatello.models import (
    BudgetDecisionCount,
    BudgetIncreaseRequest,
    BudgetReservation,
    BudgetThresholdAlert,
    CostEvent,
    Department,
    DepartmentBudget,
    DepartmentBudgetPeriod,
    Organization,
    User,
)


async def department_with_org_settings(
    session: AsyncSession, department_id: uuid.UUID
) -> tuple[Department, dict[str, Any]] | None:
    stmt = (
        select(Department, Organization.settings)
        .join(Organization, Organization.id == Department.organization_id)
        .where(Department.id == department_id)
    )
    row = (await session.execute(stmt)).one_or_none()
    return (row[0], row[1]) if row else None


async def budget(session: AsyncSession, department_id: uuid.UUID, *, lock: bool) -> DepartmentBudget | None:
    stmt = select(DepartmentBudget).where(DepartmentBudget.department_id == department_id)
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt.execution_options(populate_existing=True))).scalar_one_or_none()


async def locked_budget(
    session: AsyncSession, department_id: uuid.UUID, at: datetime
) -> tuple[DepartmentBudget, Department, dict[str, Any], bool] | None:
    """The department's budget row, locked, with its department, the organization's settings and whether
    any hold has lapsed by ``at`` — one round trip instead of four on every admission.

    The lapsed-hold flag is read with the statement's snapshot, which may predate the lock wait: a hold
    another writer commits meanwhile is not seen. Holds only lapse by time passing (new ones expire after
    ``at``), so the flag can only miss a hold given an expiry already past when it was created; such a hold
    then still counts as reserved — stricter, never an overspend — until the next writer sweeps it."""
    stmt = _locked_budget()
    row = (await session.execute(stmt, {"department_id": department_id, "at": at})).one_or_none()
    return (row[0], row[1], dict(row[2] or {}), bool(row[3])) if row else None


@lru_cache(maxsize=1)
def _locked_budget() -> Any:
    """Built once: constructing the statement cost more than SQLAlchemy's cached compilation of it."""
    department_id = bindparam("department_id", type_=DepartmentBudget.department_id.type)
    lapsed = exists().where(
        BudgetReservation.department_id == department_id,
        BudgetReservation.status == "held",
        BudgetReservation.expires_at <= bindparam("at", type_=BudgetReservation.expires_at.type),
    )
    return (
        select(DepartmentBudget, Department, Organization.settings, lapsed.label("lapsed"))
        .join(Department, Department.id == DepartmentBudget.department_id)
        .join(Organization, Organization.id == Department.organization_id)
        .where(DepartmentBudget.department_id == department_id)
        .with_for_update(of=DepartmentBudget)
        .execution_options(populate_existing=True)
    )


async def close_period(
    session: AsyncSession, row: DepartmentBudget, closed_at: datetime, *, quiet: Period | None = None
) -> None:
    """Record the budget row's period as closed — or ``quiet``, a month after it with no activity at all
    (nothing spent) — idempotently per department and period."""
    await session.execute(
        insert(DepartmentBudgetPeriod)
        .values(
            organization_id=row.organization_id,
            department_id=row.department_id,
            period_start=quiet.start if quiet else row.budget_period_start,
            period_end=quiet.end if quiet else row.budget_period_end,
            monthly_budget_aud=row.monthly_budget_aud,
            top_up_aud=Decimal(0) if quiet else row.period_top_up_aud,
            spent_aud=Decimal(0) if quiet else row.current_spend_aud,
            reserved_at_close_aud=row.reserved_aud,
            enforcement_mode=row.enforcement_mode,
            closed_at=closed_at,
        )
        .on_conflict_do_nothing(index_elements=["department_id", "period_start"])
    )


async def expire_overdue_holds(
    session: AsyncSession, department_id: uuid.UUID, at: datetime
) -> list[BudgetReservation]:
    stmt = (
        update(BudgetReservation)
        .where(
            BudgetReservation.department_id == department_id,
            BudgetReservation.status == "held",
            BudgetReservation.expires_at <= at,
        )
        .values(status="expired", closed_at=at)
        .returning(BudgetReservation)
    )
    return list((await session.execute(stmt)).scalars())


async def overdue_held_amount(session: AsyncSession, department_id: uuid.UUID, at: datetime) -> Decimal:
    """Held money whose hold has lapsed but has not been swept yet: it no longer counts."""
    stmt = select(func.coalesce(func.sum(BudgetReservation.amount_aud), 0)).where(
        BudgetReservation.department_id == department_id,
        BudgetReservation.status == "held",
        BudgetReservation.expires_at <= at,
    )
    return Decimal((await session.execute(stmt)).scalar_one())


async def user_usage(
    session: AsyncSession, department_id: uuid.UUID, user_id: uuid.UUID, period: Period, at: datetime
) -> Decimal:
    """What a user has spent in the period plus what they hold right now."""
    spent = select(func.coalesce(func.sum(CostEvent.actual_cost_aud), 0)).where(
        CostEvent.department_id == department_id,
        CostEvent.user_id == user_id,
        CostEvent.created_at >= period.starts_at,
        CostEvent.created_at < period.ends_at,
    )
    held = select(func.coalesce(func.sum(BudgetReservation.amount_aud), 0)).where(
        BudgetReservation.department_id == department_id,
        BudgetReservation.user_id == user_id,
        BudgetReservation.status == "held",
        BudgetReservation.expires_at > at,
    )
    return Decimal((await session.execute(spent)).scalar_one()) + Decimal(
        (await session.execute(held)).scalar_one()
    )


async def reservation_for(
    session: AsyncSession, generation_id: uuid.UUID, *, lock: bool
) -> BudgetReservation | None:
    stmt = select(BudgetReservation).where(BudgetReservation.generation_id == generation_id)
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt.execution_options(populate_existing=True))).scalar_one_or_none()


async def charge_for(session: AsyncSession, generation_id: uuid.UUID) -> CostEvent | None:
    stmt = select(CostEvent).where(CostEvent.generation_id == generation_id, CostEvent.kind == "charge")
    return (await session.execute(stmt)).scalar_one_or_none()


async def amendments_total(session: AsyncSession, charge_id: uuid.UUID) -> Decimal:
    stmt = select(func.coalesce(func.sum(CostEvent.actual_cost_aud), 0)).where(
        CostEvent.corrects_event_id == charge_id
    )
    return Decimal((await session.execute(stmt)).scalar_one())


async def attribution(
    session: AsyncSession, department_id: uuid.UUID, user_id: uuid.UUID
) -> tuple[str, str, str, str | None]:
    """Department code and name and the person's e-mail and cost centre, as they are now (frozen into
    the cost event)."""
    department = select(Department.code, Department.name).where(Department.id == department_id)
    code, name = (await session.execute(department)).one()
    person = select(User.email, User.cost_center).where(User.id == user_id)
    email, cost_center = (await session.execute(person)).one()
    return code, name, email, cost_center


async def add_cost_event(session: AsyncSession, event: CostEvent) -> CostEvent:
    session.add(event)
    await session.flush()
    return event


async def record_alert(
    session: AsyncSession, row: DepartmentBudget, threshold: int, at: datetime
) -> BudgetThresholdAlert | None:
    """Insert the period's alert for ``threshold``; None when it already fired this period."""
    stmt = (
        insert(BudgetThresholdAlert)
        .values(
            organization_id=row.organization_id,
            department_id=row.department_id,
            period_start=row.budget_period_start,
            threshold_percent=threshold,
            crossed_at=at,
            spent_aud=row.current_spend_aud,
            budget_aud=row.monthly_budget_aud,
        )
        .on_conflict_do_nothing(constraint="uq_budget_threshold_alerts_dept_period_threshold")
        .returning(BudgetThresholdAlert)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def rearm_alerts(
    session: AsyncSession, department_id: uuid.UUID, period_start: date, *, keep: set[int]
) -> None:
    """Forget the period's alerts for thresholds not in ``keep``, so each may fire again."""
    await session.execute(
        delete(BudgetThresholdAlert).where(
            BudgetThresholdAlert.department_id == department_id,
            BudgetThresholdAlert.period_start == period_start,
            BudgetThresholdAlert.threshold_percent.not_in(keep),
        )
    )


async def alerts_in(
    session: AsyncSession, department_id: uuid.UUID, period_start: date
) -> list[BudgetThresholdAlert]:
    stmt = (
        select(BudgetThresholdAlert)
        .where(
            BudgetThresholdAlert.department_id == department_id,
            BudgetThresholdAlert.period_start == period_start,
        )
        .order_by(BudgetThresholdAlert.threshold_percent)
    )
    return list((await session.execute(stmt)).scalars())


async def closed_periods(
    session: AsyncSession, department_id: uuid.UUID, *, before: date | None, limit: int
) -> list[DepartmentBudgetPeriod]:
    stmt = select(DepartmentBudgetPeriod).where(DepartmentBudgetPeriod.department_id == department_id)
    if before is not None:
        stmt = stmt.where(DepartmentBudgetPeriod.period_start < before)
    stmt = stmt.order_by(DepartmentBudgetPeriod.period_start.desc()).limit(limit)
    return list((await session.execute(stmt)).scalars())


async def departments_with_overdue_holds(session: AsyncSession, at: datetime, limit: int) -> list[uuid.UUID]:
    stmt = (
        select(BudgetReservation.department_id)
        .where(BudgetReservation.status == "held", BudgetReservation.expires_at <= at)
        .distinct()
        .limit(limit)
    )
    return list((await session.execute(stmt)).scalars())


async def ledger_total(session: AsyncSession, department_id: uuid.UUID, period: Period) -> Decimal:
    stmt = select(func.coalesce(func.sum(CostEvent.actual_cost_aud), 0)).where(
        CostEvent.department_id == department_id,
        CostEvent.created_at >= period.starts_at,
        CostEvent.created_at < period.ends_at,
    )
    return Decimal((await session.execute(stmt)).scalar_one())


async def held_total(session: AsyncSession, department_id: uuid.UUID) -> Decimal:
    stmt = select(func.coalesce(func.sum(BudgetReservation.amount_aud), 0)).where(
        BudgetReservation.department_id == department_id, BudgetReservation.status == "held"
    )
    return Decimal((await session.execute(stmt)).scalar_one())


async def budgeted_departments(session: AsyncSession) -> list[uuid.UUID]:
    return list((await session.execute(select(DepartmentBudget.department_id))).scalars())


async def count_decision(
    session: AsyncSession, row: DepartmentBudget, period_start: date, *, refused: bool
) -> None:
    """One more refused (or over-budget admitted) request for the department's period."""
    column = "refused" if refused else "over_budget"
    stmt = insert(BudgetDecisionCount).values(
        organization_id=row.organization_id,
        department_id=row.department_id,
        period_start=period_start,
        **{column: 1},
    )
    stmt = stmt.on_conflict_do_update(
        constraint="uq_budget_decision_counts_key",
        set_={column: getattr(BudgetDecisionCount, column) + 1},
    )
    await session.execute(stmt)


# --- increase requests ---------------------------------------------------------------------------------


async def user_cap_top_ups(
    session: AsyncSession, department_id: uuid.UUID, user_id: uuid.UUID, period: Period
) -> Decimal:
    """What a user's cap was raised by for this period alone (approved ``user_cap`` top-ups)."""
    total = func.coalesce(func.sum(BudgetIncreaseRequest.approved_amount_aud), 0)
    stmt = select(total).where(
        BudgetIncreaseRequest.department_id == department_id,
        BudgetIncreaseRequest.requested_by == user_id,
        BudgetIncreaseRequest.subject == "user_cap",
        BudgetIncreaseRequest.scope == "this_period",
        BudgetIncreaseRequest.status == "approved",
        BudgetIncreaseRequest.period_start == period.start,
    )
    return Decimal(str((await session.execute(stmt)).scalar_one()))


async def open_request(
    session: AsyncSession, department_id: uuid.UUID, subject: str, scope: str, user_id: uuid.UUID
) -> BudgetIncreaseRequest | None:
    stmt = select(BudgetIncreaseRequest).where(
        BudgetIncreaseRequest.department_id == department_id,
        BudgetIncreaseRequest.subject == subject,
        BudgetIncreaseRequest.scope == scope,
        BudgetIncreaseRequest.status == "open",
    )
    if subject == "user_cap":
        stmt = stmt.where(BudgetIncreaseRequest.requested_by == user_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def take_open_request(session: AsyncSession, request_id: uuid.UUID, **decision: Any) -> bool:
    """Move an open request to its decision; False when it was no longer open (someone decided first).
    One conditional UPDATE: of two concurrent deciders exactly one sees True."""
    stmt = (
        update(BudgetIncreaseRequest)
        .where(BudgetIncreaseRequest.id == request_id, BudgetIncreaseRequest.status == "open")
        .values(**decision)
        .returning(BudgetIncreaseRequest.id)
    )
    return (await session.execute(stmt)).scalar_one_or_none() is not None


async def lapsed_requests(session: AsyncSession, before: date, limit: int) -> list[BudgetIncreaseRequest]:
    """Open requests of periods that began before ``before`` (a department's current period), locked."""
    stmt = (
        select(BudgetIncreaseRequest)
        .where(BudgetIncreaseRequest.status == "open", BudgetIncreaseRequest.period_start < before)
        .order_by(BudgetIncreaseRequest.created_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list((await session.execute(stmt)).scalars())

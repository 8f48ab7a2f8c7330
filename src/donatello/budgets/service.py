"""Setting budgets and reading where a department stands."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from donatello import audit
from donatello.budgets import alerts, repository, settlement
from donatello.budgets.account import open_for_read, open_for_update
from donatello.budgets.errors import BudgetFieldNotAllowed, BudgetNotConfigured, NotYourDepartment
from donatello.budgets.periods import organization_timezone, period_at
from donatello.budgets.schemas import AdjustmentCreate, BudgetChange, BudgetSet, BudgetStatus, ClosedPeriod
from donatello.core.clock import utcnow
from donatello.core.errors import Forbidden
from donatello.core.money import BUDGET_COLUMN, SPEND_COLUMN, to_cents, to_ledger_precision, within
from donatello.core.pagination import Page, decode_cursor, page_of
from donatello.models import CostEvent, Department, DepartmentBudget
from donatello.models.budgets import period_budget
from donatello.tenancy import Action, Principal, ensure, scoped_get
from donatello.tenancy.permissions import Permission

ALERT_FIELDS = {"alert_thresholds", "per_user_monthly_cap_aud"}


async def status(
    session: AsyncSession, principal: Principal, department_id: uuid.UUID, *, at: datetime | None = None
) -> BudgetStatus:
    """Budget, spent, held, available and alerts of the current period — correct in a new month even
    when nothing has been written since it began."""
    department = await _readable(session, principal, department_id)
    account = await open_for_read(session, department.id, at or utcnow())
    budget = account.budget
    limit = budget.period_budget_aud
    utilization = (account.spent + account.reserved) * 100 / limit if limit > 0 else Decimal(0)
    configured = [int(t) for t in budget.alert_thresholds]
    fired = await repository.alerts_in(session, department.id, account.period.start)
    return BudgetStatus(
        department_id=department.id,
        department_code=department.code,
        period_start=account.period.start,
        period_end=account.period.end,
        timezone=account.period.timezone,
        enforcement_mode=budget.enforcement_mode,
        monthly_budget_aud=budget.monthly_budget_aud,
        period_top_up_aud=budget.period_top_up_aud,
        period_budget_aud=limit,
        spent_aud=account.spent,
        reserved_aud=account.reserved,
        available_aud=account.available,
        utilization_percent=to_cents(utilization),
        alert_thresholds=configured,
        thresholds_crossed=[a.threshold_percent for a in fired if a.threshold_percent in configured],
        per_user_monthly_cap_aud=budget.per_user_monthly_cap_aud,
    )


@dataclass(frozen=True)
class RequesterView:
    """What someone who may generate sees of their own department's budget: what is left to spend. A
    hard-budget refusal tells them this figure anyway; budget, spend and holds stay for report readers."""

    department_code: str
    department_name: str
    available_aud: Decimal
    enforcement_mode: str
    period_end: date
    cap_left_aud: Decimal | None = None  # their own cap's remainder (cap + their top-ups - used), if capped

    @property
    def may_spend_aud(self) -> Decimal:
        """What this person may still spend: the lesser of their cap's remainder and the department's."""
        if self.cap_left_aud is None:
            return self.available_aud
        return max(min(self.cap_left_aud, self.available_aud), Decimal(0))


async def available_to_requester(
    session: AsyncSession, principal: Principal, *, at: datetime | None = None
) -> RequesterView | None:
    """None when the principal has no department or the department has no budget."""
    if principal.department_id is None or not principal.can(Permission.GENERATIONS_CREATE):
        return None
    department = await scoped_get(session, principal, Department, principal.department_id)
    try:
        account = await open_for_read(session, department.id, at or utcnow())
    except BudgetNotConfigured:
        return None
    cap_left = None
    if (cap := account.budget.per_user_monthly_cap_aud) is not None:
        user, period = principal.user_id, account.period
        cap += await repository.user_cap_top_ups(session, department.id, user, period)
        cap_left = cap - await repository.user_usage(session, department.id, user, period, at or utcnow())
    return RequesterView(
        department_code=department.code,
        department_name=department.name,
        available_aud=account.available,
        enforcement_mode=account.budget.enforcement_mode,
        period_end=account.period.end,
        cap_left_aud=cap_left,
    )


async def closed_periods(
    session: AsyncSession, principal: Principal, department_id: uuid.UUID, cursor: str | None, limit: int
) -> Page[ClosedPeriod]:
    department = await _readable(session, principal, department_id)
    after = decode_cursor(cursor, 1)
    before = date.fromisoformat(after[0]) if after else None
    rows = await repository.closed_periods(session, department.id, before=before, limit=limit + 1)
    kept, next_cursor = page_of(rows, limit, key=lambda row: [row.period_start.isoformat()])
    items = [ClosedPeriod.model_validate(row) for row in kept]
    return Page[ClosedPeriod](items=items, next_cursor=next_cursor)


async def set_budget(
    session: AsyncSession,
    principal: Principal,
    department_id: uuid.UUID,
    body: BudgetSet,
    *,
    at: datetime | None = None,
) -> BudgetStatus:
    """An org admin creates or replaces a department's budget; a change applies from now on (the period
    keeps what was spent; a closed period keeps its own figures). Anyone else is refused (403), whichever
    edge they came through."""
    ensure(principal, Action.SET_BUDGET)
    at = at or utcnow()
    department = await scoped_get(session, principal, Department, department_id)
    if await repository.budget(session, department.id, lock=False) is None:
        found = await repository.department_with_org_settings(session, department.id)
        assert found is not None
        period = period_at(at, organization_timezone(found[1]))
        row = DepartmentBudget(
            organization_id=department.organization_id,
            department_id=department.id,
            monthly_budget_aud=body.monthly_budget_aud,
            enforcement_mode=body.enforcement_mode,
            alert_thresholds=body.alert_thresholds,
            per_user_monthly_cap_aud=body.per_user_monthly_cap_aud,
            budget_period_start=period.start,
            budget_period_end=period.end,
        )
        session.add(row)
        await session.flush()
        await audit.record_event(
            session,
            "budget.created",
            resource=("department_budget", row.id),
            organization_id=department.organization_id,
            actor=principal,
            details={
                "department_id": department.id,
                "department_code": department.code,
                "changes": body.model_dump(),
            },
            at=at,
        )
        return await status(session, principal, department.id, at=at)
    return await _apply(session, principal, department, body.model_dump(), at)


async def change_budget(
    session: AsyncSession,
    principal: Principal,
    department_id: uuid.UUID,
    body: BudgetChange,
    *,
    at: datetime | None = None,
) -> BudgetStatus:
    """Change some settings. Department managers may tune their own department's alerts and per-user
    cap, never its budget or mode (nobody raises their own budget)."""
    ensure(principal, Action.CHANGE_BUDGET)
    department = await scoped_get(session, principal, Department, department_id)
    requested = body.model_dump(exclude_unset=True)
    if not principal.can(Permission.BUDGETS_MANAGE):
        if not (
            principal.can(Permission.BUDGET_ALERTS_MANAGE) and principal.reaches_department(department.id)
        ):
            raise Forbidden("Only an org admin, or this department's manager, may change its budget settings")
        if refused := sorted(set(requested) - ALERT_FIELDS):
            raise BudgetFieldNotAllowed(refused)
    return await _apply(session, principal, department, requested, at or utcnow())


async def _apply(
    session: AsyncSession,
    principal: Principal,
    department: Department,
    requested: dict[str, Any],
    at: datetime,
) -> BudgetStatus:
    account = await open_for_update(session, department.id, at)  # close a stale period with its old figures
    changes = {
        field: {"from": getattr(account.budget, field), "to": value}
        for field, value in requested.items()
        if getattr(account.budget, field) != value
    }
    if "monthly_budget_aud" in changes:  # the period's budget is stored with its top-ups beside it
        within(
            period_budget(changes["monthly_budget_aud"]["to"], account.budget.period_top_up_aud),
            BUDGET_COLUMN,
            field="monthly_budget_aud",
            what="The period's budget (monthly + this period's top-ups)",
        )
    for field, change in changes.items():
        setattr(account.budget, field, change["to"])
    if changes:
        await session.flush()
        kind = "budget.mode_changed" if "enforcement_mode" in changes else "budget.changed"
        await audit.record_event(
            session,
            kind,
            resource=("department_budget", account.budget.id),  # one id for a budget's whole history
            organization_id=department.organization_id,
            actor=principal,
            details={"department_id": department.id, "department_code": department.code, "changes": changes},
            at=at,
        )
    if changes.keys() & {"monthly_budget_aud", "alert_thresholds"}:
        await alerts.reconcile(session, account.budget, at=at)
    return await status(session, principal, department.id, at=at)


async def _readable(session: AsyncSession, principal: Principal, department_id: uuid.UUID) -> Department:
    department = await scoped_get(session, principal, Department, department_id)
    if not principal.can(Permission.REPORTS_READ):
        raise Forbidden("Budget status is for org admins, finance and department managers")
    if not principal.reaches_department(department.id):
        raise NotYourDepartment("Department managers see their own department's budget only")
    return department


async def amend_charge(
    session: AsyncSession, principal: Principal, cost_event_id: uuid.UUID, body: AdjustmentCreate
) -> CostEvent:
    """Refund or correct a charge (``settlement.amend``). A correction adds to this period's spend: one
    that would take it past what the spend column holds is refused when asked (422), not by the database."""
    ensure(principal, Action.AMEND_CHARGES)
    if body.kind == "correction" and body.amount_aud > 0:
        charge = await scoped_get(session, principal, CostEvent, cost_event_id)
        account = await open_for_read(session, charge.department_id, utcnow())
        within(
            account.spent + to_ledger_precision(body.amount_aud),
            SPEND_COLUMN,
            field="amount_aud",
            what="This period's spend with this correction",
        )
    return await settlement.amend(session, principal, cost_event_id, body.amount_aud, body.kind, body.reason)

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from donatello.budgets import administration, settlement
from donatello.budgets.dependencies import CanAmendCharges, CanChangeBudgets, CanReadBudgets, CanSetBudgets
from donatello.budgets.errors import (
    BudgetFieldNotAllowed,
    BudgetNotConfigured,
    InvalidAdjustment,
    NotYourDepartment,
)
from donatello.budgets.schemas import (
    AdjustmentCreate,
    BudgetChange,
    BudgetSet,
    BudgetStatus,
    ClosedPeriod,
    CostEventRead,
)
from donatello.core.errors import Forbidden, NotFound, Unauthenticated, ValidationFailed
from donatello.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page
from donatello.dependencies import DbSession
from donatello.models import CostEvent
from donatello.openapi import problem_responses

router = APIRouter(tags=["budgets"])


@router.get(
    "/departments/{department_id}/budget",
    response_model=BudgetStatus,
    responses=problem_responses(Unauthenticated, Forbidden, NotFound, BudgetNotConfigured),
)
async def get_budget(department_id: uuid.UUID, principal: CanReadBudgets, session: DbSession) -> BudgetStatus:
    """Where the department stands this period: budget, spent, held, available, utilization, alerts."""
    return await administration.status(session, principal, department_id)


@router.put(
    "/departments/{department_id}/budget",
    response_model=BudgetStatus,
    responses=problem_responses(Forbidden, NotFound, ValidationFailed),
)
async def set_budget(
    department_id: uuid.UUID, body: BudgetSet, principal: CanSetBudgets, session: DbSession
) -> BudgetStatus:
    return await administration.set_budget(session, principal, department_id, body)


@router.patch(
    "/departments/{department_id}/budget",
    response_model=BudgetStatus,
    responses=problem_responses(
        Forbidden, BudgetFieldNotAllowed, NotFound, BudgetNotConfigured, ValidationFailed
    ),
)
async def change_budget(
    department_id: uuid.UUID, body: BudgetChange, principal: CanChangeBudgets, session: DbSession
) -> BudgetStatus:
    return await administration.change_budget(session, principal, department_id, body)


@router.get(
    "/departments/{department_id}/budget/periods",
    response_model=Page[ClosedPeriod],
    responses=problem_responses(Forbidden, NotYourDepartment, NotFound, ValidationFailed),
)
async def list_closed_periods(
    department_id: uuid.UUID,
    principal: CanReadBudgets,
    session: DbSession,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[ClosedPeriod]:
    """Closed periods, newest first, with the budget, spend and holds each closed with."""
    return await administration.closed_periods(session, principal, department_id, cursor, limit)


@router.post(
    "/cost-events/{cost_event_id}/adjustments",
    status_code=201,
    response_model=CostEventRead,
    responses=problem_responses(Forbidden, NotFound, InvalidAdjustment, ValidationFailed),
)
async def amend_charge(
    cost_event_id: uuid.UUID, body: AdjustmentCreate, principal: CanAmendCharges, session: DbSession
) -> CostEvent:
    """Refund or correct a charge with a new cost event (the ledger is never edited)."""
    return await settlement.amend(session, principal, cost_event_id, body.amount_aud, body.kind, body.reason)

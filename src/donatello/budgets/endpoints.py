from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from donatello.budgets import increase_requests, service
from donatello.budgets.dependencies import (
    CanAmendCharges,
    CanAskForBudget,
    CanChangeBudgets,
    CanDecideBudgetRequests,
    CanReadBudgets,
    CanSeeBudgetRequests,
    CanSetBudgets,
)
from donatello.budgets.errors import (
    ApprovalAboveAsked,
    BudgetFieldNotAllowed,
    BudgetNotConfigured,
    IncreaseRequestDecided,
    IncreaseRequestOpen,
    InvalidAdjustment,
    NotYourDepartment,
    RefusalNotYours,
)
from donatello.budgets.schemas import (
    AdjustmentCreate,
    BudgetChange,
    BudgetSet,
    BudgetStatus,
    ClosedPeriod,
    CostEventRead,
    IncreaseDecision,
    IncreaseRequestCreate,
    IncreaseRequestRead,
)
from donatello.core.errors import Forbidden, NotFound, Unauthenticated, ValidationFailed
from donatello.core.money import AmountTooLarge
from donatello.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page
from donatello.dependencies import DbSession
from donatello.models import BudgetIncreaseRequest, CostEvent
from donatello.openapi import problem_responses

router = APIRouter(tags=["budgets"])


@router.get(
    "/departments/{department_id}/budget",
    response_model=BudgetStatus,
    responses=problem_responses(Unauthenticated, Forbidden, NotFound, BudgetNotConfigured),
)
async def get_budget(department_id: uuid.UUID, principal: CanReadBudgets, session: DbSession) -> BudgetStatus:
    """Where the department stands this period: budget, spent, held, available, utilization, alerts."""
    return await service.status(session, principal, department_id)


@router.put(
    "/departments/{department_id}/budget",
    response_model=BudgetStatus,
    responses=problem_responses(Forbidden, NotFound, ValidationFailed, AmountTooLarge),
)
async def set_budget(
    department_id: uuid.UUID, body: BudgetSet, principal: CanSetBudgets, session: DbSession
) -> BudgetStatus:
    return await service.set_budget(session, principal, department_id, body)


@router.patch(
    "/departments/{department_id}/budget",
    response_model=BudgetStatus,
    responses=problem_responses(
        Forbidden, BudgetFieldNotAllowed, NotFound, BudgetNotConfigured, ValidationFailed, AmountTooLarge
    ),
)
async def change_budget(
    department_id: uuid.UUID, body: BudgetChange, principal: CanChangeBudgets, session: DbSession
) -> BudgetStatus:
    return await service.change_budget(session, principal, department_id, body)


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
    return await service.closed_periods(session, principal, department_id, cursor, limit)


@router.post(
    "/cost-events/{cost_event_id}/adjustments",
    status_code=201,
    response_model=CostEventRead,
    responses=problem_responses(Forbidden, NotFound, InvalidAdjustment, ValidationFailed, AmountTooLarge),
)
async def amend_charge(
    cost_event_id: uuid.UUID, body: AdjustmentCreate, principal: CanAmendCharges, session: DbSession
) -> CostEvent:
    """Refund or correct a charge with a new cost event (the ledger is never edited)."""
    return await service.amend_charge(session, principal, cost_event_id, body)


# --- requests for more budget ---------------------------------------------------------------------

RequestStatus = Annotated[
    Literal["open", "approved", "declined", "expired"] | None,
    Query(description="Only requests in this state"),
]


@router.post(
    "/departments/{department_id}/budget/requests",
    status_code=201,
    response_model=IncreaseRequestRead,
    responses=problem_responses(
        Forbidden, RefusalNotYours, NotFound, IncreaseRequestOpen, ValidationFailed, AmountTooLarge
    ),
)
async def ask_for_budget(
    department_id: uuid.UUID, body: IncreaseRequestCreate, principal: CanAskForBudget, session: DbSession
) -> BudgetIncreaseRequest:
    """Ask for more budget: a top-up for this period or a permanent raise (409 while one is open). Anyone
    but the department's manager quotes the ``refusal_id`` of a refusal of theirs."""
    return await increase_requests.ask(session, principal, department_id, body)


@router.get(
    "/departments/{department_id}/budget/requests",
    response_model=Page[IncreaseRequestRead],
    responses=problem_responses(Forbidden, NotFound, ValidationFailed),
)
async def department_budget_requests(
    department_id: uuid.UUID,
    principal: CanSeeBudgetRequests,
    session: DbSession,
    status: RequestStatus = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[IncreaseRequestRead]:
    """The department's requests, newest first (one's own, for anyone who does not read its reports)."""
    return await increase_requests.for_department(session, principal, department_id, status, cursor, limit)


@router.get(
    "/budget-requests",
    response_model=Page[IncreaseRequestRead],
    responses=problem_responses(Forbidden, ValidationFailed),
)
async def budget_request_queue(
    principal: CanDecideBudgetRequests,
    session: DbSession,
    status: RequestStatus = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[IncreaseRequestRead]:
    """The organization's requests for an admin to decide, newest first (``status=open``: the queue)."""
    return await increase_requests.queue(session, principal, status, cursor, limit)


@router.get(
    "/budget-requests/mine",
    response_model=Page[IncreaseRequestRead],
    responses=problem_responses(Forbidden, ValidationFailed),
)
async def my_budget_requests(
    principal: CanAskForBudget,
    session: DbSession,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[IncreaseRequestRead]:
    """One's own requests in every department, newest first, with what was decided, by whom and why."""
    return await increase_requests.mine(session, principal, cursor, limit)


@router.post(
    "/budget-requests/{request_id}/decision",
    response_model=IncreaseRequestRead,
    responses=problem_responses(
        Forbidden, NotFound, IncreaseRequestDecided, ApprovalAboveAsked, ValidationFailed, AmountTooLarge
    ),
)
async def decide_budget_request(
    request_id: uuid.UUID, body: IncreaseDecision, principal: CanDecideBudgetRequests, session: DbSession
) -> BudgetIncreaseRequest:
    """Approve (in full, or a smaller ``amount_aud``) or decline with a reason; an approval changes the
    budget in the same transaction. Deciding twice, or after the period ended, is a 409."""
    return await increase_requests.decide(session, principal, request_id, body)

"""Asking for more budget, and deciding: a top-up for this period or a permanent raise, on the record.

Who asks: whoever manages the department (its manager, an org admin) at any time; anyone else straight
from a refusal of theirs in this department and period, quoting its ``refusal_id`` — a cap refusal asks
for the asker's own cap, a budget refusal for the department's budget. One open request per department,
subject and scope (per user for a cap): a second ask is a 409 naming the open one, so the amount an
admin decides on never changes under them.

Who decides: org admins. The decision and the budget change commit in one transaction; a conditional
update on the request's status makes two concurrent deciders produce exactly one decision. A request
lapses at the end of the period it was asked in (the worker records the expiry; a lapsed request
cannot be approved even before that).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from donatello import audit
from donatello.budgets import alerts, repository, requests_repository
from donatello.budgets.account import open_for_read, open_for_update
from donatello.budgets.errors import (
    ApprovalAboveAsked,
    IncreaseRequestDecided,
    IncreaseRequestOpen,
    RefusalNotYours,
)
from donatello.budgets.schemas import IncreaseDecision, IncreaseRequestCreate, IncreaseRequestRead
from donatello.core.clock import utcnow
from donatello.core.database import add_unless_taken
from donatello.core.errors import Forbidden, NotFound
from donatello.core.money import BUDGET_COLUMN, within, written
from donatello.core.pagination import Page, decode_cursor, page_of
from donatello.models import BudgetIncreaseRequest, Department
from donatello.tenancy import Action, Principal, ensure
from donatello.tenancy.permissions import Permission
from donatello.tenancy.scope import scoped_get


def manages(principal: Principal, department: Department) -> bool:
    """Whoever runs the department's budget: an org admin, or the manager who tunes its alerts."""
    if principal.can(Permission.BUDGETS_MANAGE):
        return True
    return principal.can(Permission.BUDGET_ALERTS_MANAGE) and principal.reaches_department(department.id)


async def ask(
    session: AsyncSession,
    principal: Principal,
    department_id: uuid.UUID,
    body: IncreaseRequestCreate,
    *,
    at: datetime | None = None,
) -> BudgetIncreaseRequest:
    """Open a request for more budget (see the module docstring for who may, and for what)."""
    ensure(principal, Action.ASK_FOR_BUDGET)
    at = at or utcnow()
    department = await scoped_get(session, principal, Department, department_id)
    account = await open_for_read(session, department.id, at)
    subject = "department"
    if body.refusal_id is not None:
        subject = await _subject_of_refusal(
            session, principal, department, body.refusal_id, account.period.start
        )
    elif not manages(principal, department):
        if principal.department_id != department.id:
            raise NotFound("department", department_id)
        raise RefusalNotYours()
    if (
        found := await repository.open_request(session, department.id, subject, body.scope, principal.user_id)
    ) is not None:
        raise IncreaseRequestOpen(found.id, found.amount_aud)
    _fits(account.budget, subject, body.scope, body.amount_aud)
    request = BudgetIncreaseRequest(
        organization_id=department.organization_id,
        department_id=department.id,
        requested_by=principal.user_id,
        subject=subject,
        scope=body.scope,
        amount_aud=body.amount_aud,
        reason=body.reason,
        refusal_event_id=body.refusal_id,
        period_start=account.period.start,
        status="open",
        created_at=at,
    )
    if not await add_unless_taken(session, request):  # two first asks at once: the index lets one in
        taken = await repository.open_request(session, department.id, subject, body.scope, principal.user_id)
        raise IncreaseRequestOpen(taken.id if taken else None, taken.amount_aud if taken else body.amount_aud)
    await audit.record_event(
        session,
        "budget.increase_requested",
        resource=("budget_increase_request", request.id),
        organization_id=request.organization_id,
        actor=principal,
        details=_details(request),
        at=at,
    )
    return request


async def decide(
    session: AsyncSession,
    principal: Principal,
    request_id: uuid.UUID,
    body: IncreaseDecision,
    *,
    at: datetime | None = None,
) -> BudgetIncreaseRequest:
    """Approve (in full or less) or decline an open request; an approval changes the budget at once."""
    ensure(principal, Action.DECIDE_BUDGET_REQUESTS)
    at = at or utcnow()
    request = await scoped_get(session, principal, BudgetIncreaseRequest, request_id)
    granted = body.amount_aud if body.amount_aud is not None else request.amount_aud
    if body.decision == "approved" and granted > request.amount_aud:
        raise ApprovalAboveAsked(
            f"{written(granted)} is more than the {written(request.amount_aud)} asked for", field="amount_aud"
        )
    # The budget row first (the one lock order every budget writer keeps), then the request.
    account = await open_for_update(session, request.department_id, at)
    if request.status == "open" and request.period_start < account.period.start:
        raise IncreaseRequestDecided(request.id, "expired")
    taken = await repository.take_open_request(
        session,
        request.id,
        status=body.decision,
        approved_amount_aud=granted if body.decision == "approved" else None,
        decided_by=principal.user_id,
        decided_at=at,
        decision_reason=body.reason,
    )
    if not taken:
        await session.refresh(request)
        raise IncreaseRequestDecided(request.id, request.status)
    await session.refresh(request)
    if body.decision == "approved":
        _fits(account.budget, request.subject, request.scope, granted)  # the budget may have grown since
        _apply(account.budget, request, granted)
    await session.flush()
    if body.decision == "approved" and request.subject == "department":
        await alerts.reconcile(session, account.budget, at=at)  # a raised budget re-arms its thresholds
    await audit.record_event(
        session,
        "budget.increase_decided",
        resource=("budget_increase_request", request.id),
        organization_id=request.organization_id,
        actor=principal,
        details=_details(request),
        at=at,
    )
    return request


def _fits(budget: Any, subject: str, scope: str, amount: Decimal) -> None:
    """Refuse, when asked, a raise whose result the budget's columns could not hold (approving it
    would fail): the period's budget (monthly + this period's top-ups), or the per-user cap it raises."""
    if subject == "department":
        raised, what = budget.period_budget_aud + amount, "The period's budget with this raise"
    else:
        raised, what = (
            (budget.per_user_monthly_cap_aud or Decimal(0)) + amount,
            "The per-user cap with this raise",
        )
    within(raised, BUDGET_COLUMN, field="amount_aud", what=what)


def _apply(budget: Any, request: BudgetIncreaseRequest, granted: Decimal) -> None:
    """What an approval changes. A cap top-up for this period needs no write here: the approved request
    itself raises that user's cap for its period (``repository.user_cap_top_ups``)."""
    if request.subject == "department" and request.scope == "this_period":
        budget.period_top_up_aud += granted
    elif request.subject == "department":
        budget.monthly_budget_aud += granted
    elif request.scope == "permanent" and budget.per_user_monthly_cap_aud is not None:
        budget.per_user_monthly_cap_aud += granted


async def for_department(
    session: AsyncSession,
    principal: Principal,
    department_id: uuid.UUID,
    status: str | None,
    cursor: str | None,
    limit: int,
) -> Page[IncreaseRequestRead]:
    """A department's requests, newest first: all of them for whoever manages it or reads its reports,
    one's own for anyone else in it."""
    department = await scoped_get(session, principal, Department, department_id)
    requested_by = None
    if not (manages(principal, department) or _reads_reports(principal, department)):
        if principal.department_id != department.id:
            raise NotFound("department", department_id)
        requested_by = principal.user_id
    return await _page(
        session,
        principal,
        cursor,
        limit,
        department_id=department.id,
        requested_by=requested_by,
        status=status,
    )


async def queue(
    session: AsyncSession, principal: Principal, status: str | None, cursor: str | None, limit: int
) -> Page[IncreaseRequestRead]:
    """The organization's requests for an admin to decide, newest first (``status=open`` for the queue)."""
    if not principal.can(Permission.BUDGETS_MANAGE):
        raise Forbidden("The queue of budget requests is for org admins")
    return await _page(session, principal, cursor, limit, status=status)


async def mine(
    session: AsyncSession, principal: Principal, cursor: str | None, limit: int
) -> Page[IncreaseRequestRead]:
    """The principal's own requests in any department of theirs, newest first, decided or not."""
    return await _page(session, principal, cursor, limit, requested_by=principal.user_id)


async def people(
    session: AsyncSession, principal: Principal, user_ids: set[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """Who asked or decided, by name (their e-mail when they have none), within the principal's scope:
    a page says "Ana asked", never an id."""
    if not user_ids:
        return {}
    return await requests_repository.names(session, principal, user_ids)


async def requester_use(
    session: AsyncSession, principal: Principal, request: IncreaseRequestRead, *, at: datetime | None = None
) -> Decimal:
    """What the request's asker has spent and holds in its department this period: the context an admin
    decides a request in (a cap request's "whose cap" in money)."""
    if not principal.can(Permission.BUDGETS_MANAGE):
        raise Forbidden("The context of budget requests is for org admins")
    department = await scoped_get(session, principal, Department, request.department_id)
    at = at or utcnow()
    account = await open_for_read(session, department.id, at)
    return await repository.user_usage(session, department.id, request.requested_by, account.period, at)


async def waiting(session: AsyncSession, principal: Principal) -> int:
    """How many requests wait for a decision in the principal's organization (0 for non-deciders)."""
    if not principal.can(Permission.BUDGETS_MANAGE):
        return 0
    return await requests_repository.open_count(session, principal)


async def expire_lapsed(session: AsyncSession, at: datetime, *, batch: int = 200) -> int:
    """Record the expiry of open requests whose period has ended (idempotent; the worker's sweep)."""
    expired = 0
    # Periods are local calendar months; no zone is more than 14 h ahead of UTC, so every lapsed
    # request began before this month start (a superset, checked exactly per organization below).
    month_start = (at + timedelta(hours=14)).date().replace(day=1)
    for request in await repository.lapsed_requests(session, before=month_start, limit=batch):
        account = await open_for_read(session, request.department_id, at)
        if request.period_start >= account.period.start:
            continue  # still its period in the organization's time zone
        request.status = "expired"
        await session.flush()
        await audit.record_event(
            session,
            "budget.increase_request_expired",
            resource=("budget_increase_request", request.id),
            organization_id=request.organization_id,
            actor=None,
            details=_details(request),
            at=at,
        )
        expired += 1
    return expired


async def _subject_of_refusal(
    session: AsyncSession,
    principal: Principal,
    department: Department,
    refusal_id: uuid.UUID,
    period_start: date,
) -> str:
    """``department`` or ``user_cap``: what the quoted refusal (the asker's own, in this department and
    period) was refused by."""
    document = await audit.refusal(session, refusal_id)
    metadata = (document or {}).get("metadata") or {}
    if (
        document is None
        or document.get("user_id") != str(principal.user_id)
        or metadata.get("department_id") != str(department.id)
        or metadata.get("period_start") != period_start.isoformat()
    ):
        raise RefusalNotYours()
    return "department" if document.get("action") == "budget_refused" else "user_cap"


def _reads_reports(principal: Principal, department: Department) -> bool:
    return principal.can(Permission.REPORTS_READ) and principal.reaches_department(department.id)


async def _page(
    session: AsyncSession,
    principal: Principal,
    cursor: str | None,
    limit: int,
    *,
    department_id: uuid.UUID | None = None,
    requested_by: uuid.UUID | None = None,
    status: str | None = None,
) -> Page[IncreaseRequestRead]:
    after = decode_cursor(cursor, 2)
    rows = await requests_repository.newest_first(
        session,
        principal,
        department_id=department_id,
        requested_by=requested_by,
        status=status,
        after=None if after is None else (datetime.fromisoformat(after[0]), uuid.UUID(after[1])),
        limit=limit + 1,
    )
    rows, next_cursor = page_of(rows, limit, key=lambda row: [row.created_at.isoformat(), row.id])
    return Page(items=[IncreaseRequestRead.model_validate(row) for row in rows], next_cursor=next_cursor)


def _details(request: BudgetIncreaseRequest) -> dict[str, Any]:
    return {
        "department_id": request.department_id,
        "requested_by": request.requested_by,
        "subject": request.subject,
        "scope": request.scope,
        "amount_aud": request.amount_aud,
        "status": request.status,
        "approved_amount_aud": request.approved_amount_aud,
        "period_start": request.period_start,
        "reason": request.decision_reason or request.reason,
    }

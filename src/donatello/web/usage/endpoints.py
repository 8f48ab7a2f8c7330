"""My usage: this period's spend and images by model, the department's budget where the viewer may see
it, and the prompt history."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from donatello.budgets import service as budgets
from donatello.budgets.periods import period_at
from donatello.core.clock import utcnow
from donatello.core.errors import ValidationFailed
from donatello.dependencies import DbSession
from donatello.generations import queries
from donatello.generations.dependencies import Sealer
from donatello.reports.service import timezone_of
from donatello.tenancy import Permission
from donatello.web.dependencies import SignedInViewer, WebRoute, page

router = APIRouter(route_class=WebRoute, include_in_schema=False)


@router.get("/usage", response_class=HTMLResponse)
async def my_usage(
    request: Request,
    viewer: SignedInViewer,
    session: DbSession,
    sealer: Sealer,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> HTMLResponse:
    principal = viewer.principal
    timezone = await timezone_of(session, principal.organization_id)
    period = period_at(utcnow(), timezone)
    budget_status = None
    if principal.department_id is not None and principal.can(Permission.REPORTS_READ):
        budget_status = await budgets.status(session, principal, principal.department_id)
    try:
        prompts = await queries.prompt_history(session, principal, sealer, cursor, 10)
    except ValidationFailed:
        prompts = await queries.prompt_history(session, principal, sealer, None, 10)
    return page(
        request,
        "usage.html",
        viewer=viewer,
        period=period,
        month=await queries.monthly_usage(session, principal, period.starts_at),
        totals=await queries.usage(session, principal, None, None),
        budget_status=budget_status,
        available=await budgets.available_to_requester(session, principal),
        prompts=prompts,
        timezone=timezone,
    )

"""Budget reports in the browser: a department's dashboard (status, burn-down, spend tables, earlier
periods, asking for more budget) and the organization overview. Every figure comes from the same
``reports.service`` functions as ``/v1/reports/...``; the CSV links serve the same ``tables.to_csv``."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ValidationError

from donatello.budgets import increase_requests
from donatello.budgets import service as budget_service
from donatello.budgets.errors import NotYourDepartment
from donatello.budgets.schemas import BudgetChange, BudgetSet, IncreaseRequestCreate
from donatello.core.clock import utcnow
from donatello.core.errors import DomainError, NotFound
from donatello.core.money import BUDGET_COLUMN
from donatello.dependencies import DbSession
from donatello.models import Department
from donatello.reports import service, tables
from donatello.reports.errors import InvalidRange
from donatello.tenancy import Action, Permission
from donatello.web.dashboard.chart import PHONE, burn_down_chart
from donatello.web.dependencies import Viewer, WebRoute, page, requiring
from donatello.web.forms import FormState

router = APIRouter(route_class=WebRoute, include_in_schema=False)

Reader = Annotated[Viewer, Depends(requiring(Action.READ_REPORTS))]
Asker = Annotated[Viewer, Depends(requiring(Action.ASK_FROM_DASHBOARD, changes_state=True))]
PeriodQuery = Annotated[str | None, Query(max_length=7, pattern=r"^\d{4}-\d{2}$")]
TABLES = ("user", "model", "day")
Table = Literal["user", "model", "day", "top-spenders", "burn-down", "periods"]


async def _department(session: DbSession, viewer: Viewer, department_id: uuid.UUID) -> Department:
    """Another organization's department, or (for a manager) another department: the 404 page."""
    try:
        return await service.readable_department(session, viewer.principal, department_id)
    except NotYourDepartment:
        raise NotFound("department", department_id) from None


@router.get("/reports", response_model=None)
async def reports_home(
    request: Request, viewer: Reader, session: DbSession, period: PeriodQuery = None
) -> Response:
    """Org admins and finance: every department side by side; a manager: straight to their own."""
    principal = viewer.principal
    if not principal.reaches_every_department:
        if principal.department_id is None:
            raise NotFound("department")
        chosen = f"?period={period}" if period else ""  # the month they asked for, not this one
        return RedirectResponse(f"/reports/{principal.department_id}{chosen}", status_code=303)
    form = FormState("period", {"period": period})
    try:
        rollup = await service.organization_rollup(session, principal, period)
    except InvalidRange as error:  # a month that is not one (2026-13): the current one, and why
        form, period = form.rejecting(error, words={InvalidRange.type: PERIOD_WORDS}), None
        rollup = await service.organization_rollup(session, principal, None)
    return page(
        request, "overview.html", status=form.status, viewer=viewer, rollup=rollup, period=period, form=form
    )


@router.get("/reports/{department_id}", response_class=HTMLResponse)
async def dashboard(
    request: Request,
    department_id: uuid.UUID,
    viewer: Reader,
    session: DbSession,
    period: PeriodQuery = None,
    asked: bool = False,
    saved: bool = False,
) -> HTMLResponse:
    return await _dashboard(request, viewer, session, department_id, period, asked=asked, saved=saved)


async def _dashboard(
    request: Request,
    viewer: Viewer,
    session: DbSession,
    department_id: uuid.UUID,
    period: str | None,
    *,
    asked: bool = False,
    saved: bool = False,
    form: FormState | None = None,
) -> HTMLResponse:
    principal = viewer.principal
    form = form or FormState()
    department = await _department(session, viewer, department_id)
    current = await service.current_status(session, principal, department.id)
    try:
        burn_down = await service.burn_down(session, principal, department.id, period)
    except InvalidRange as error:  # a month that is not one (2026-13): the current one, and why
        form = FormState("period", {"period": period}).rejecting(
            error, words={InvalidRange.type: PERIOD_WORDS}
        )
        period = None
        burn_down = await service.burn_down(session, principal, department.id, period)
    spend = {
        group: await service.spend_table(session, principal, department.id, group, period) for group in TABLES
    }
    history = await service.comparison(session, principal, department.id, 6)
    manages = increase_requests.manages(principal, department)
    settings = None
    if manages and current.budget_aud is not None:
        settings = await budget_service.status(session, principal, department.id)
    requests = await increase_requests.for_department(session, principal, department.id, None, None, 10)
    people = {item.requested_by for item in requests.items} | {
        item.decided_by for item in requests.items if item.decided_by
    }
    return page(
        request,
        "dashboard.html",
        status=form.status,
        form=form,
        viewer=viewer,
        department=department,
        current=current,
        burn_down=burn_down,
        chart=burn_down_chart(burn_down),
        phone_chart=burn_down_chart(burn_down, PHONE),
        spend=spend,
        history=history,
        period=period,
        chosen=burn_down.period_start.strftime("%Y-%m"),
        days_left=(current.period_end - utcnow().astimezone(ZoneInfo(viewer.timezone)).date()).days + 1,
        manages=manages,
        budget_settings=settings,
        administers=principal.can(Permission.BUDGETS_MANAGE),
        saved=saved,
        requests=requests.items,
        names=await increase_requests.people(session, principal, people),
        asked=asked,
    )


@router.get("/reports/{department_id}/{table}.csv", response_class=Response)
async def table_csv(
    department_id: uuid.UUID, table: Table, viewer: Reader, session: DbSession, period: PeriodQuery = None
) -> Response:
    """The dashboard's tables as the API's CSV, downloadable with the browser session."""
    principal = viewer.principal
    department = await _department(session, viewer, department_id)
    report: BaseModel
    if table == "burn-down":
        report = await service.burn_down(session, principal, department.id, period)
    elif table == "periods":
        report = await service.comparison(session, principal, department.id, 6)
    else:
        report = await service.spend_table(session, principal, department.id, table, period, limit=100)
    return Response(
        tables.to_csv(report),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{tables.filename(report)}"',
            "Cache-Control": "no-store",
        },
    )


@router.post("/reports/{department_id}/budget-requests", response_model=None)
async def ask_for_more(
    request: Request,
    department_id: uuid.UUID,
    viewer: Asker,
    session: DbSession,
    amount_aud: Annotated[str, Form(max_length=20)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
    scope: Annotated[str, Form(max_length=20)] = "this_period",
) -> Response:
    """A manager asks for more budget for their department (the API's ``increase_requests.ask``)."""
    department = await _department(session, viewer, department_id)
    form = FormState("ask", {"amount_aud": amount_aud, "reason": reason, "scope": scope})
    try:
        body = IncreaseRequestCreate.model_validate(
            {"amount_aud": _amount(amount_aud), "reason": reason.strip(), "scope": scope}
        )
        async with session.begin_nested():
            await increase_requests.ask(session, viewer.principal, department.id, body)
    except (ValidationError, DomainError) as error:
        rejected = form.rejecting(error, hints=ASK_HINTS)
        return await _dashboard(request, viewer, session, department.id, None, form=rejected)
    return RedirectResponse(f"/reports/{department.id}?asked=true", status_code=303)


Settler = Annotated[Viewer, Depends(requiring(Action.CHANGE_BUDGET, changes_state=True))]


@router.post("/reports/{department_id}/budget", response_model=None)
async def change_budget(
    request: Request,
    department_id: uuid.UUID,
    viewer: Settler,
    session: DbSession,
    alert_thresholds: Annotated[str, Form(max_length=100)] = "",
    per_user_monthly_cap_aud: Annotated[str, Form(max_length=20)] = "",
    monthly_budget_aud: Annotated[str | None, Form(max_length=20)] = None,
    enforcement_mode: Annotated[str | None, Form(max_length=10)] = None,
) -> Response:
    """The budget's settings through the API's ``set_budget``/``change_budget`` (the same rules: a manager
    tunes alerts and the per-user cap only; every change audited). Only the fields the form sent change."""
    department = await _department(session, viewer, department_id)
    fields: dict[str, object] = {
        "alert_thresholds": [part.strip() for part in alert_thresholds.split(",") if part.strip()],
        "per_user_monthly_cap_aud": _amount(per_user_monthly_cap_aud) or None,
    }
    if monthly_budget_aud is not None:
        fields["monthly_budget_aud"] = _amount(monthly_budget_aud)
    if enforcement_mode is not None:
        fields["enforcement_mode"] = enforcement_mode
    current = await service.current_status(session, viewer.principal, department.id)
    typed = {
        "alert_thresholds": alert_thresholds,
        "per_user_monthly_cap_aud": per_user_monthly_cap_aud,
        "monthly_budget_aud": monthly_budget_aud,
        "enforcement_mode": enforcement_mode,
    }
    try:
        async with session.begin_nested():
            if current.enforcement_mode is None:  # no budget yet: created as PUT does (the service says who)
                body = BudgetSet.model_validate(fields)
                await budget_service.set_budget(session, viewer.principal, department.id, body)
            else:
                change = BudgetChange.model_validate(fields)
                await budget_service.change_budget(session, viewer.principal, department.id, change)
    except (ValidationError, DomainError) as error:
        rejected = FormState("budget", typed).rejecting(error, hints=BUDGET_HINTS)
        return await _dashboard(request, viewer, session, department.id, None, form=rejected)
    return RedirectResponse(f"/reports/{department.id}?saved=true", status_code=303)


def _amount(text: str) -> str:
    return text.strip().removeprefix("A$").replace(",", "")


PERIOD_WORDS = (
    "Give a month as year and month, e.g. 2026-11 (months run 01 to 12); showing this month instead."
)
#: what a valid value looks like, beside the field the schema refused
ASK_HINTS = {
    "amount_aud": "Give an amount in dollars and cents, more than A$0 and at most"
    f" A${BUDGET_COLUMN.maximum:,}.",
    "reason": "Say why the department needs it (at most 2,000 characters).",
    "scope": "Choose this period only or every month.",
}
BUDGET_HINTS = {
    "monthly_budget_aud": f"Give the budget in dollars and cents, at most A${BUDGET_COLUMN.maximum:,}.",
    "enforcement_mode": "Choose hard, soft or warn.",
    "alert_thresholds": "List whole percentages from 1 to 1000, separated by commas, e.g. 50, 80, 100.",
    "per_user_monthly_cap_aud": "Give the cap in dollars and cents, or leave it empty for no cap.",
}

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
from donatello.core.errors import Forbidden, NotFound, ValidationFailed
from donatello.core.money import BUDGET_COLUMN
from donatello.dependencies import DbSession
from donatello.models import Department
from donatello.reports import service, tables
from donatello.tenancy import Permission
from donatello.web.dashboard.chart import PHONE, burn_down_chart
from donatello.web.dependencies import Viewer, WebRoute, page, requiring

router = APIRouter(route_class=WebRoute, include_in_schema=False)

Reader = Annotated[Viewer, Depends(requiring(Permission.REPORTS_READ))]
Asker = Annotated[Viewer, Depends(requiring(Permission.BUDGET_REQUESTS_CREATE, changes_state=True))]
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
        return RedirectResponse(f"/reports/{principal.department_id}", status_code=303)
    rollup = await service.organization_rollup(session, principal, period)
    return page(request, "overview.html", viewer=viewer, rollup=rollup, period=period)


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
    principal = viewer.principal
    department = await _department(session, viewer, department_id)
    current = await service.current_status(session, principal, department.id)
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
    department_id: uuid.UUID,
    viewer: Asker,
    session: DbSession,
    amount_aud: Annotated[str, Form(max_length=20)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
    scope: Annotated[str, Form(max_length=20)] = "this_period",
) -> Response:
    """A manager asks for more budget for their department (the API's ``increase_requests.ask``)."""
    department = await _department(session, viewer, department_id)
    try:
        body = IncreaseRequestCreate.model_validate(
            {"amount_aud": amount_aud.strip().removeprefix("A$"), "reason": reason.strip(), "scope": scope}
        )
    except ValidationError as error:
        fields = ", ".join(str(e["loc"][-1]).replace("_aud", "") for e in error.errors())
        raise ValidationFailed(
            f"Check the {fields}: give an amount in dollars (at most A${BUDGET_COLUMN.maximum:,})"
            " and a reason."
        ) from None
    await increase_requests.ask(session, viewer.principal, department.id, body)
    return RedirectResponse(f"/reports/{department.id}?asked=true", status_code=303)


Settler = Annotated[Viewer, Depends(requiring(Permission.BUDGET_ALERTS_MANAGE, changes_state=True))]


@router.post("/reports/{department_id}/budget", response_model=None)
async def change_budget(
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
    try:
        if current.enforcement_mode is None:  # no budget yet: creating one is an org admin's (as PUT)
            if not viewer.can(Permission.BUDGETS_MANAGE):
                raise Forbidden("Only an org admin sets a department's budget")
            body = BudgetSet.model_validate(fields)
            await budget_service.set_budget(session, viewer.principal, department.id, body)
        else:
            change = BudgetChange.model_validate(fields)
            await budget_service.change_budget(session, viewer.principal, department.id, change)
    except ValidationError as error:
        names = ", ".join(str(e["loc"][0]).replace("_aud", "").replace("_", " ") for e in error.errors())
        raise ValidationFailed(f"Check the {names}: amounts in dollars, thresholds as 50, 80, 100.") from None
    return RedirectResponse(f"/reports/{department.id}?saved=true", status_code=303)


def _amount(text: str) -> str:
    return text.strip().removeprefix("A$").replace(",", "")

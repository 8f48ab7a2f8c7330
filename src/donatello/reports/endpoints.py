from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from donatello.budgets.errors import NotYourDepartment
from donatello.core.errors import Forbidden, NotFound, Unauthenticated
from donatello.dependencies import DbSession, SnapshotRoute
from donatello.openapi import problem_responses
from donatello.reports import cost_centres, service, tables
from donatello.reports.dependencies import CanReadOrganizationReports, CanReadReports
from donatello.reports.errors import InvalidRange
from donatello.reports.schemas import (
    BurnDown,
    CostCentreSpend,
    CurrentStatus,
    OrganizationRollup,
    PeriodComparison,
    SpendTable,
)

router = APIRouter(tags=["reports"], route_class=SnapshotRoute)

TableFormat = Annotated[
    Literal["json", "csv", "csv-excel"],
    Query(
        description="json; csv to download the table; csv-excel: the same CSV with a UTF-8 byte-order mark"
    ),
]
PeriodParam = Annotated[str | None, Query(description="A month YYYY-MM in the organization's time zone")]
ERRORS: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The report; with format=csv, the table as CSV",
        "content": {"text/csv": {"schema": {"type": "string"}}},
    },
    **problem_responses(Unauthenticated, Forbidden, NotYourDepartment, NotFound, InvalidRange),
}


def _as(report: BaseModel, output: str) -> Response:
    if output in ("csv", "csv-excel"):
        body = tables.to_csv(report)
        return Response(
            (tables.EXCEL_BOM + body) if output == "csv-excel" else body,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{tables.filename(report)}"'},
        )
    return JSONResponse(report.model_dump(mode="json"))


@router.get("/reports/departments/{department_id}/status", response_model=CurrentStatus, responses=ERRORS)
async def department_status(
    department_id: uuid.UUID, principal: CanReadReports, session: DbSession, format: TableFormat = "json"
) -> Response:
    """This period so far: budget, spend (net of refunds and corrections), holds, refusals."""
    report = await service.current_status(session, principal, department_id)
    return _as(report, format)


@router.get("/reports/departments/{department_id}/burn-down", response_model=BurnDown, responses=ERRORS)
async def burn_down(
    department_id: uuid.UUID,
    principal: CanReadReports,
    session: DbSession,
    period: PeriodParam = None,
    format: TableFormat = "json",
) -> Response:
    """Daily cumulative spend against the budget line, with straight-line and trailing-7-day forecasts."""
    report = await service.burn_down(session, principal, department_id, period)
    return _as(report, format)


@router.get("/reports/departments/{department_id}/spend/{group}", response_model=SpendTable, responses=ERRORS)
async def spend(
    department_id: uuid.UUID,
    group: Literal["user", "model", "day", "top-spenders"],
    principal: CanReadReports,
    session: DbSession,
    period: PeriodParam = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    format: TableFormat = "json",
) -> Response:
    """Spend in a period by user, by provider and model, by local day, or the top spenders."""
    report = await service.spend_table(session, principal, department_id, group, period, limit=limit)
    return _as(report, format)


@router.get("/reports/departments/{department_id}/periods", response_model=PeriodComparison, responses=ERRORS)
async def compare_periods(
    department_id: uuid.UUID,
    principal: CanReadReports,
    session: DbSession,
    count: Annotated[int, Query(ge=1, le=24)] = 6,
    format: TableFormat = "json",
) -> Response:
    """This period against the ones before it, newest first."""
    report = await service.comparison(session, principal, department_id, count)
    return _as(report, format)


@router.get("/reports/organization", response_model=OrganizationRollup, responses=ERRORS)
async def organization_rollup(
    principal: CanReadOrganizationReports,
    session: DbSession,
    period: PeriodParam = None,
    format: TableFormat = "json",
) -> Response:
    """Every department side by side for a period, by utilization (org admins and finance)."""
    report = await service.organization_rollup(session, principal, period)
    return _as(report, format)


@router.get("/reports/cost-centres", response_model=CostCentreSpend, responses=ERRORS)
async def spend_by_cost_centre(
    principal: CanReadOrganizationReports,
    session: DbSession,
    period: PeriodParam = None,
    format: TableFormat = "json",
) -> Response:
    """The organization's spend in a period by cost centre (the directory's ``costCenter`` at spend time;
    key "" is spend by people without one), largest first (org admins and finance)."""
    report = await cost_centres.spend_by_cost_centre(session, principal, period)
    return _as(report, format)

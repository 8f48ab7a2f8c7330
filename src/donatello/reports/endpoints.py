from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel

from donatello.budgets.errors import NotYourDepartment
from donatello.config import Settings
from donatello.core.errors import Forbidden, NotFound, Unauthenticated, ValidationFailed
from donatello.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page
from donatello.dependencies import DbSession, SnapshotRoute
from donatello.models import ExportJob
from donatello.openapi import problem_responses
from donatello.reports import exports, finance, service, tables
from donatello.reports.dependencies import (
    CanExportCosts,
    CanExportOrganizationCosts,
    CanReadOrganizationReports,
    CanReadReports,
)
from donatello.reports.errors import InvalidRange, UnknownFormat
from donatello.reports.schemas import (
    BurnDown,
    CurrentStatus,
    ExportJobRead,
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


@router.get(
    "/cost-events/export",
    responses={
        200: {
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"}},
            }
        },
        202: {"model": ExportJobRead, "description": "Too large to stream: queued as a background job"},
        **problem_responses(Unauthenticated, Forbidden, NotFound, InvalidRange, UnknownFormat),
    },
)
async def export_cost_events(
    request: Request,
    principal: CanExportOrganizationCosts,
    session: DbSession,
    from_: Annotated[str, Query(alias="from", description="YYYY-MM-DD (local day) or ISO datetime")],
    to: Annotated[str, Query(description="YYYY-MM-DD (inclusive local day) or ISO datetime")],
    department_id: uuid.UUID | None = None,
    format: Annotated[str, Query(description="csv, parquet, focus (FOCUS 1.2 Parquet) or focus-csv")] = "csv",
) -> Response:
    """The ledger for a range, attribution as at spend time, streamed (large ranges run as a job)."""
    settings: Settings = request.app.state.settings
    plan = await finance.request_export(session, principal, settings, from_, to, department_id, format)
    if plan.job is not None:
        return JSONResponse(
            finance.describe(plan.job, None).model_dump(mode="json"),
            status_code=202,
            headers={"Location": f"/v1/exports/{plan.job.id}"},
        )
    return StreamingResponse(
        exports.stream(request.app.state.sessionmaker, plan.range),
        media_type=exports.MEDIA_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="{plan.range.filename()}"'},
    )


@router.get(
    "/exports",
    response_model=Page[ExportJobRead],
    responses=problem_responses(Unauthenticated, Forbidden, ValidationFailed),
)
async def list_exports(
    request: Request,
    principal: CanExportCosts,
    session: DbSession,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[ExportJobRead]:
    """The organization's background exports, newest first: status, progress, rows, and a short-lived
    download link for those that are done."""
    jobs, next_cursor = await finance.list_jobs(session, principal, cursor, limit)
    return Page(items=[await _described(request, job) for job in jobs], next_cursor=next_cursor)


async def _described(request: Request, job: ExportJob) -> ExportJobRead:
    url = None
    if job.status == "done" and job.storage_name:
        settings: Settings = request.app.state.settings
        url = await request.app.state.image_store.read_url(
            job.storage_name, expires_in=timedelta(minutes=settings.export_link_minutes)
        )
    return finance.describe(job, url)


@router.get(
    "/exports/{export_id}",
    response_model=ExportJobRead,
    responses=problem_responses(Unauthenticated, Forbidden, NotFound),
)
async def export_status(
    request: Request, export_id: uuid.UUID, principal: CanExportCosts, session: DbSession
) -> ExportJobRead:
    """A background export's progress, and a short-lived download link once it is done."""
    return await _described(request, await finance.find_job(session, principal, export_id))

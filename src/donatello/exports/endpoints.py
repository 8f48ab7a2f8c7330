"""Cost exports over HTTP: ``GET /v1/cost-events/export`` (streamed, or queued as a job when large) and
the background jobs' status with their short-lived download links."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from donatello.config import Settings
from donatello.core.errors import Forbidden, NotFound, Unauthenticated, ValidationFailed
from donatello.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page
from donatello.dependencies import DbSession, SnapshotRoute, resources_of
from donatello.exports import files, schedules, service
from donatello.exports.dependencies import CanExportCosts, CanExportOrganizationCosts
from donatello.exports.errors import UnknownFormat
from donatello.exports.schemas import (
    ExportJobRead,
    ExportScheduleChange,
    ExportScheduleCreate,
    ExportScheduleRead,
)
from donatello.models import ExportJob
from donatello.openapi import problem_responses
from donatello.reports.errors import InvalidRange

# Tagged and routed as before the split (same OpenAPI group, same snapshot transaction).
router = APIRouter(tags=["reports"], route_class=SnapshotRoute)


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
    format: Annotated[str, Query(description="csv, parquet, focus (FOCUS Parquet) or focus-csv")] = "csv",
    focus_version: Annotated[
        str | None, Query(description="FOCUS version of a focus or focus-csv export: 1.2 (default) or 1.3")
    ] = None,
) -> Response:
    """The ledger for a range, attribution as at spend time, streamed (large ranges run as a job)."""
    settings: Settings = resources_of(request).settings
    plan = await service.request_export(
        session, principal, settings, from_, to, department_id, format, focus_version
    )
    if plan.job is not None:
        return JSONResponse(
            service.describe(plan.job, None).model_dump(mode="json"),
            status_code=202,
            headers={"Location": f"/v1/exports/{plan.job.id}"},
        )
    return StreamingResponse(
        files.stream(resources_of(request).sessionmaker, plan.range),
        media_type=files.MEDIA_TYPES[format],
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
    jobs, next_cursor = await service.list_jobs(session, principal, cursor, limit)
    return Page(items=[await _described(request, job) for job in jobs], next_cursor=next_cursor)


async def _described(request: Request, job: ExportJob) -> ExportJobRead:
    url = None
    if job.status == "done" and job.storage_name:
        settings: Settings = resources_of(request).settings
        url = await resources_of(request).image_store.read_url(
            job.storage_name, expires_in=timedelta(minutes=settings.export_link_minutes)
        )
    return service.describe(job, url)


@router.get(
    "/exports/{export_id}",
    response_model=ExportJobRead,
    responses=problem_responses(Unauthenticated, Forbidden, NotFound),
)
async def export_status(
    request: Request, export_id: uuid.UUID, principal: CanExportCosts, session: DbSession
) -> ExportJobRead:
    """A background export's progress, and a short-lived download link once it is done."""
    return await _described(request, await service.find_job(session, principal, export_id))


@router.post(
    "/export-schedules",
    response_model=ExportScheduleRead,
    status_code=201,
    responses=problem_responses(Unauthenticated, Forbidden, ValidationFailed),
)
async def create_export_schedule(
    request: Request, body: ExportScheduleCreate, principal: CanExportCosts, session: DbSession
) -> ExportScheduleRead:
    """Drop a cost export into storage every day at a local time, in the FinOps hubs layout: the
    previous day's file and/or the month to date, and the closed month again after it ends (audited)."""
    return await schedules.create(session, principal, body, resources_of(request).settings)


@router.get(
    "/export-schedules",
    response_model=list[ExportScheduleRead],
    responses=problem_responses(Unauthenticated, Forbidden),
)
async def list_export_schedules(
    request: Request, principal: CanExportCosts, session: DbSession
) -> list[ExportScheduleRead]:
    """The organization's export schedules, each with its latest runs (status, path, failures)."""
    return await schedules.listed(session, principal, resources_of(request).settings)


@router.get(
    "/export-schedules/{schedule_id}",
    response_model=ExportScheduleRead,
    responses=problem_responses(Unauthenticated, Forbidden, NotFound),
)
async def export_schedule(
    request: Request, schedule_id: uuid.UUID, principal: CanExportCosts, session: DbSession
) -> ExportScheduleRead:
    """One schedule and its latest runs: what was written where, and what failed and why."""
    found = await schedules.find(session, principal, schedule_id)
    return await schedules.describe(session, found, resources_of(request).settings)


@router.patch(
    "/export-schedules/{schedule_id}",
    response_model=ExportScheduleRead,
    responses=problem_responses(Unauthenticated, Forbidden, NotFound, ValidationFailed),
)
async def change_export_schedule(
    request: Request,
    schedule_id: uuid.UUID,
    body: ExportScheduleChange,
    principal: CanExportCosts,
    session: DbSession,
) -> ExportScheduleRead:
    """Pause or resume a schedule (audited)."""
    return await schedules.set_enabled(
        session, principal, schedule_id, body.enabled, resources_of(request).settings
    )


@router.delete(
    "/export-schedules/{schedule_id}",
    status_code=204,
    responses=problem_responses(Unauthenticated, Forbidden, NotFound),
)
async def delete_export_schedule(
    schedule_id: uuid.UUID, principal: CanExportCosts, session: DbSession
) -> Response:
    """Stop and forget a schedule (audited); files already written stay in storage."""
    await schedules.delete(session, principal, schedule_id)
    return Response(status_code=204)

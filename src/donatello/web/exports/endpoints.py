"""Finance's cost exports in the browser: the API's ``exports.service.request_export`` behind a form. A small
range downloads at once (streamed, as the API does); a large one becomes a job whose card polls its own
progress; the organization's jobs are listed with their short-lived download links."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from donatello.config import Settings
from donatello.core.clock import utcnow
from donatello.core.errors import DomainError, ValidationFailed
from donatello.departments import service as departments
from donatello.dependencies import DbSession, resources_of
from donatello.exports import files, service
from donatello.exports.schemas import ExportJobRead
from donatello.models import ExportJob
from donatello.reports.errors import InvalidRange
from donatello.tenancy import Action
from donatello.web.dependencies import Viewer, WebRoute, page, requiring, settings_of
from donatello.web.forms import FormState

router = APIRouter(route_class=WebRoute, include_in_schema=False)

Exporter = Annotated[Viewer, Depends(requiring(Action.EXPORT_COSTS))]
Exporting = Annotated[Viewer, Depends(requiring(Action.EXPORT_COSTS, changes_state=True))]
FORMATS = {
    "csv": "CSV (the ledger)",
    "parquet": "Parquet (the ledger)",
    "focus": "FOCUS 1.2 Parquet",
    "focus-csv": "FOCUS 1.2 CSV",
}


async def _described(request: Request, settings: Settings, job: ExportJob) -> ExportJobRead:
    url = None
    if job.status == "done" and job.storage_name:
        url = await resources_of(request).image_store.read_url(
            job.storage_name, expires_in=timedelta(minutes=settings.export_link_minutes)
        )
    return service.describe(job, url)


REVERSED = "The first day must be on or before the last day: swap them, or choose another range."


@router.get("/exports", response_class=HTMLResponse)
async def export_page(
    request: Request, viewer: Exporter, session: DbSession, queued: uuid.UUID | None = None
) -> HTMLResponse:
    return await _page(request, viewer, session, queued=queued)


async def _page(
    request: Request,
    viewer: Viewer,
    session: DbSession,
    *,
    queued: uuid.UUID | None = None,
    form: FormState | None = None,
) -> HTMLResponse:
    form = form or FormState()
    settings = settings_of(request)
    jobs, _ = await service.list_jobs(session, viewer.principal, None, 20)
    today = utcnow().astimezone(ZoneInfo(viewer.timezone)).date()
    listed = await departments.list_departments(session, viewer.principal, None, 200)
    return page(
        request,
        "exports.html",
        status=form.status,
        form=form,
        viewer=viewer,
        jobs=[await _described(request, settings, job) for job in jobs],
        departments=listed.items,
        formats=FORMATS,
        first=today.replace(day=1).isoformat(),
        today=today.isoformat(),
        queued=queued,
        inline_days=settings.export_inline_max_days,
    )


@router.get("/exports/{export_id}", response_class=HTMLResponse)
async def export_card(
    request: Request, export_id: uuid.UUID, viewer: Exporter, session: DbSession
) -> HTMLResponse:
    """One job's card: what the page's script polls until the job ends."""
    job = await service.find_job(session, viewer.principal, export_id)
    described = await _described(request, settings_of(request), job)
    return page(request, "partials/export_job.html", viewer=viewer, job=described)


@router.post("/exports", response_model=None)
async def export(
    request: Request,
    viewer: Exporting,
    session: DbSession,
    starts: Annotated[str, Form(alias="from", max_length=32)],
    ends: Annotated[str, Form(alias="to", max_length=32)],
    export_format: Annotated[Literal["csv", "parquet", "focus", "focus-csv"], Form(alias="format")] = "csv",
    department: Annotated[str, Form(max_length=36)] = "",
) -> Response:
    form = FormState("", {"from": starts, "to": ends, "format": export_format, "department": department})
    try:
        try:
            department_id = uuid.UUID(department) if department else None
        except ValueError:
            raise ValidationFailed("Choose a department from the list.", field="department") from None
        async with session.begin_nested():
            plan = await service.request_export(
                session, viewer.principal, settings_of(request), starts, ends, department_id, export_format
            )
    except DomainError as error:
        rejected = form.rejecting(error, words={InvalidRange.type: _range_words})
        return await _page(request, viewer, session, form=rejected)
    if plan.job is not None:
        return RedirectResponse(f"/exports?queued={plan.job.id}", status_code=303)
    # The download streams in a transaction of its own, after this request's (with the audit) commits.
    return StreamingResponse(
        files.stream(resources_of(request).sessionmaker, plan.range),
        media_type=files.MEDIA_TYPES[export_format],
        headers={
            "Content-Disposition": f'attachment; filename="{plan.range.filename()}"',
            "Cache-Control": "no-store",
        },
    )


def _range_words(error: DomainError) -> str:
    """A reversed range is said as one; a day that is not a date, as the API says it."""
    if "before" in error.detail:
        return REVERSED
    return f"Give the {'first' if error.extensions.get('field') == 'from' else 'last'} day as a date."

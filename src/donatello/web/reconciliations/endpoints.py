"""Reconciliation in the browser, for finance and org admins: the organization's past reconciliations,
an upload form (the API's ``reconciliation.service.accept`` behind it), one reconciliation's day x model
table with flagged rows first, its left-out provider lines, and the comparison CSV."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from donatello.core.pagination import MAX_LIMIT
from donatello.dependencies import DbSession, resources_of
from donatello.models.reconciliations import RECONCILIATION_FORMATS
from donatello.reconciliation import queries, service, tables
from donatello.reconciliation.errors import FileTooLarge, InvalidReconciliation, UnreadableFile
from donatello.tenancy import Action
from donatello.web.dependencies import Viewer, WebRoute, page, requiring, settings_of
from donatello.web.forms import FormState

router = APIRouter(route_class=WebRoute, include_in_schema=False)

Reconciler = Annotated[Viewer, Depends(requiring(Action.RECONCILE))]
Reconciling = Annotated[Viewer, Depends(requiring(Action.RECONCILE, changes_state=True))]
FORMATS = {
    "focus": "FOCUS 1.x (CSV or Parquet)",
    "generic": "Generic CSV",
}
PAGE_SIZE = 20
#: What a left-out provider line's status means, and what to do about it.
LEFT_OUT = {
    "unmapped": "No model is mapped to this name: map its meter (or resource/meter) to the model it "
    "bills in the reconciliation settings (PUT /v1/reconciliation-settings), then upload the file again.",
    "no-rate": "No exchange rate into AUD on or before this day: load the rate (fx_rates), then upload "
    "the file again.",
    "outside-period": "Outside the chosen period: upload again with a period that includes this day.",
}


async def _list_page(
    request: Request,
    viewer: Viewer,
    session: DbSession,
    *,
    cursor: str | None = None,
    status: int = 200,
    chosen: dict[str, str] | None = None,
    problem: str | None = None,
    queued: uuid.UUID | None = None,
    form: FormState | None = None,
) -> HTMLResponse:
    settings = settings_of(request)
    found, next_cursor = await queries.listing(session, viewer.principal, cursor, PAGE_SIZE)
    return page(
        request,
        "reconciliations.html",
        status=status,
        viewer=viewer,
        reconciliations=found,
        requesters=await queries.requesters(session, viewer.principal, found),
        next_cursor=next_cursor,
        formats=FORMATS,
        chosen=chosen or {"provider": "azure-openai", "format": "focus", "period": ""},
        problem=problem,
        form=form or FormState(),
        queued=queued,
        settings=await queries.current_settings(session, viewer.principal),
        inline_max_bytes=settings.reconciliation_inline_max_bytes,
        max_bytes=settings.reconciliation_max_upload_bytes,
    )


@router.get("/reconciliations", response_class=HTMLResponse)
async def reconciliations_page(
    request: Request,
    viewer: Reconciler,
    session: DbSession,
    cursor: str | None = None,
    queued: uuid.UUID | None = None,
) -> HTMLResponse:
    return await _list_page(request, viewer, session, cursor=cursor, queued=queued)


@router.post("/reconciliations", response_model=None)
async def upload(
    request: Request,
    viewer: Reconciling,
    session: DbSession,
    file: Annotated[UploadFile, File()],
    provider: Annotated[str, Form(max_length=200)] = "",
    file_format: Annotated[str, Form(alias="format", max_length=20)] = "focus",
    period: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """Compare at once (then the result) or queue a large file (then its place in the list). A file that
    cannot be read, or is too large, is the form again with what was chosen and what is wrong."""
    chosen = {"provider": provider, "format": file_format, "period": period}
    if not file.filename:
        return await _list_page(
            request, viewer, session, status=422, chosen=chosen, problem="Choose the cost file to upload."
        )
    try:
        async with session.begin_nested():  # a refused file leaves nothing behind
            reconciliation, _ = await service.accept(
                session,
                viewer.principal,
                settings_of(request),
                resources_of(request).image_store,
                file.file,
                file.filename,
                provider,
                file_format if file_format in RECONCILIATION_FORMATS else "",
                period or None,
            )
    except (UnreadableFile, InvalidReconciliation, FileTooLarge) as error:
        # the file's problem is the form's note; a period, provider or format is also said beside it
        form = FormState("", chosen).rejecting(error) if error.extensions.get("field") else None
        return await _list_page(
            request, viewer, session, status=error.status, chosen=chosen, problem=error.detail, form=form
        )
    if reconciliation.status in ("queued", "running"):
        return RedirectResponse(f"/reconciliations?queued={reconciliation.id}", status_code=303)
    return RedirectResponse(f"/reconciliations/{reconciliation.id}", status_code=303)


@router.get("/reconciliations/{reconciliation_id}", response_class=HTMLResponse)
async def reconciliation_page(
    request: Request, reconciliation_id: uuid.UUID, viewer: Reconciler, session: DbSession
) -> HTMLResponse:
    reconciliation = await queries.find(session, viewer.principal, reconciliation_id)
    rows, lines = await queries.comparison_table(session, reconciliation)
    ordered = sorted(rows, key=lambda row: not row.flagged)  # flagged first, each part in day order
    left_out = [line for line in lines if line.status != "mapped"][:MAX_LIMIT]
    return page(
        request,
        "reconciliation.html",
        viewer=viewer,
        reconciliation=reconciliation,
        rows=ordered,
        left_out=left_out,
        left_out_count=sum(1 for line in lines if line.status != "mapped"),
        what_to_do=LEFT_OUT,
        config=_settings_used(reconciliation.config),
    )


@router.get("/reconciliations/{reconciliation_id}/comparison.csv", response_class=Response)
async def comparison_csv(reconciliation_id: uuid.UUID, viewer: Reconciler, session: DbSession) -> Response:
    """The API's download, for a signed-in browser: every day x model row, then every provider line."""
    reconciliation = await queries.find(session, viewer.principal, reconciliation_id)
    rows, lines = await queries.comparison_table(session, reconciliation)
    return Response(
        tables.to_csv(rows, lines),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="reconciliation-{reconciliation.id}.csv"',
            "Cache-Control": "no-store",
        },
    )


def _settings_used(config: dict[str, Any]) -> dict[str, Any]:
    """The mapping, tolerances and period an import ran with, as stored with it."""
    return {
        "mappings": dict(config.get("mappings") or {}),
        "tolerance_aud": config.get("tolerance_aud"),
        "tolerance_percent": config.get("tolerance_percent"),
        "period_from": config.get("period_from"),
        "period_to": config.get("period_to"),
    }

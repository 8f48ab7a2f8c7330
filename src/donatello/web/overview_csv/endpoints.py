"""The organization overview (every department side by side for a period) as the API's CSV
(``/v1/reports/organization?format=csv``: the same ``reports.service.organization_rollup`` and
``tables.to_csv``), downloadable with the browser session by org admins and finance. A month that is
not one (``2026-13``) is the overview page again with the reason beside the period field."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query
from fastapi.responses import RedirectResponse, Response

from donatello.dependencies import DbSession
from donatello.reports import service, tables
from donatello.reports.errors import InvalidRange
from donatello.tenancy import Action
from donatello.web.dependencies import Viewer, WebRoute, requiring

router = APIRouter(route_class=WebRoute, include_in_schema=False)

Reader = Annotated[Viewer, Depends(requiring(Action.READ_REPORTS))]


@router.get("/reports.csv", response_model=None)
async def overview_csv(
    viewer: Reader,
    session: DbSession,
    period: Annotated[str | None, Query(max_length=7)] = None,
) -> Response:
    try:
        rollup = await service.organization_rollup(session, viewer.principal, period)
    except InvalidRange:  # the overview says why, beside the period it was given
        return RedirectResponse(f"/reports?{urlencode({'period': period or ''})}", status_code=303)
    return Response(
        tables.to_csv(rollup),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{tables.filename(rollup)}"',
            "Cache-Control": "no-store",
        },
    )

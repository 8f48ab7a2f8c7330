"""The gallery: the viewer's own generations, newest first, paged and filtered; one generation in full
with cancel and delete (the API's own lifecycle service)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from donatello.core.errors import DomainError, ValidationFailed
from donatello.dependencies import DbSession, resources_of
from donatello.generations import lifecycle, queries
from donatello.generations.dependencies import Images, Sealer
from donatello.generations.schemas import Status
from donatello.tenancy import Action, Permission
from donatello.web.dependencies import Viewer, WebRoute, page, requiring
from donatello.web.forms import FormState

router = APIRouter(route_class=WebRoute, include_in_schema=False)

#: the API's rules: one's own generations, or (managers, admins) others' as ``queries.visible`` allows
Reader = Annotated[Viewer, Depends(requiring(Action.READ_GENERATIONS))]
Acting = Annotated[Viewer, Depends(requiring(Action.ACT_ON_GENERATIONS, changes_state=True))]

PAGE_SIZE = 12
REVERSED = "The From day is after the To day: swap them. Showing every day instead."
STATUSES: list[str] = ["pending", "processing", "completed", "failed", "cancelled"]


@router.get("/gallery", response_class=HTMLResponse)
async def gallery(
    request: Request,
    viewer: Reader,
    session: DbSession,
    store: Images,
    status: Status | None = None,
    model: Annotated[str | None, Query(max_length=151)] = None,
    created_from: Annotated[str, Query(alias="from", max_length=32)] = "",
    created_to: Annotated[str, Query(alias="to", max_length=32)] = "",
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> HTMLResponse:
    filters: dict[str, Any] = {
        "status": status or "",
        "model": model or "",
        "from": created_from.strip(),
        "to": created_to.strip(),
    }
    form = FormState("", filters)

    async def listing(days: bool) -> Any:
        return await queries.history(
            session,
            viewer.principal,
            store,
            department_id=None,
            status=status,
            model=model or None,
            # local days of the organization, as in the API
            created_from=(filters["from"] or None) if days else None,
            created_to=(filters["to"] or None) if days else None,
            cursor=cursor,
            limit=PAGE_SIZE,
        )

    try:
        found = await listing(days=True)
    except ValidationFailed as error:
        if error.extensions.get("field") not in ("from", "to"):  # a cursor from elsewhere: the newest
            return RedirectResponse("/gallery", status_code=303)  # type: ignore[return-value]
        # a reversed range is said beside the days, which stay as typed; the list leaves them out
        form = form.rejecting(error, words={ValidationFailed.type: _days_words})
        found = await listing(days=False)
    active = {key: value for key, value in filters.items() if value and not form.error(key)}
    return page(
        request,
        "gallery.html",
        status=form.status,
        form=form,
        viewer=viewer,
        generations=found.items,
        filters=filters,
        statuses=STATUSES,
        first_page=f"/gallery?{urlencode(active)}" if active else "/gallery",
        next_page=f"/gallery?{urlencode({**active, 'cursor': found.next_cursor})}"
        if found.next_cursor
        else None,
        paged=cursor is not None,
    )


@router.get("/gallery/{generation_id}", response_class=HTMLResponse)
async def generation_detail(
    request: Request,
    generation_id: uuid.UUID,
    viewer: Reader,
    session: DbSession,
    store: Images,
    sealer: Sealer,
) -> HTMLResponse:
    """Another tenant's (or anyone else's, for a plain user) generation is the same 404 as a missing one."""
    row = await queries.visible(session, viewer.principal, generation_id)
    own = row.user_id == viewer.principal.user_id
    prompt = await queries.prompt(session, viewer.principal, sealer, generation_id) if own else None
    details = dict(row.details or {})
    return page(
        request,
        "generation.html",
        viewer=viewer,
        generation=await queries.read_placed(session, row, store, resources_of(request).settings),
        prompt=prompt,
        own=own,
        can_generate=viewer.can(Permission.GENERATIONS_CREATE),
        requested_model=details.get("requested_model"),
        admitted_model=details.get("admitted_model"),
        reason=details.get("selected_model_reason"),
        fallback_from=details.get("fallback_from"),
        style=details.get("style"),
    )


@router.post("/gallery/{generation_id}/cancel", response_class=RedirectResponse)
async def cancel(generation_id: uuid.UUID, viewer: Acting, session: DbSession) -> RedirectResponse:
    await lifecycle.cancel(session, viewer.principal, generation_id)
    return RedirectResponse(f"/gallery/{generation_id}", status_code=303)


@router.post("/gallery/{generation_id}/delete", response_class=RedirectResponse)
async def delete(generation_id: uuid.UUID, viewer: Acting, session: DbSession) -> RedirectResponse:
    await lifecycle.delete(session, viewer.principal, generation_id)
    return RedirectResponse("/gallery", status_code=303)


def _days_words(error: DomainError) -> str:
    """A reversed range, or a day that is not one, in words; the list leaves the days out meanwhile."""
    if "before" in error.detail:
        return REVERSED
    return "Give the day as a date (YYYY-MM-DD). Showing every day instead."

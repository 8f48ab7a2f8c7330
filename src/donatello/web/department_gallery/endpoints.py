"""A department's gallery for its manager (and org admins): who made what, newest first and paged,
through the API's ``queries.history(department_id=…)`` — the same reach (a manager: their own department;
another organization's department is not found). Prompts are not shown: the API gives a prompt only to
its owner (and to an org admin, one audited read at a time on the generation's own page)."""

from __future__ import annotations

import uuid
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from donatello.budgets.errors import NotYourDepartment
from donatello.core.errors import NotFound
from donatello.dependencies import DbSession
from donatello.generations import queries
from donatello.generations.dependencies import Images
from donatello.reports import service as reports
from donatello.tenancy import Action
from donatello.users import service as users
from donatello.web.dependencies import Viewer, WebRoute, page, requiring

router = APIRouter(route_class=WebRoute, include_in_schema=False)

Overseer = Annotated[Viewer, Depends(requiring(Action.OVERSEE_GENERATIONS))]
PAGE_SIZE = 12


@router.get("/reports/{department_id}/gallery", response_class=HTMLResponse)
async def department_gallery(
    request: Request,
    department_id: uuid.UUID,
    viewer: Overseer,
    session: DbSession,
    store: Images,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> HTMLResponse:
    try:
        department = await reports.readable_department(session, viewer.principal, department_id)
    except NotYourDepartment:  # another department is, to a manager, not there
        raise NotFound("department", department_id) from None
    found = await queries.history(
        session,
        viewer.principal,
        store,
        department_id=department.id,
        status=None,
        model=None,
        created_from=None,
        created_to=None,
        cursor=cursor,
        limit=PAGE_SIZE,
    )
    makers = await users.emails(session, viewer.principal, {item.user_id for item in found.items})
    return page(
        request,
        "department_gallery.html",
        viewer=viewer,
        department=department,
        generations=found.items,
        makers=makers,
        next_page=f"?{urlencode({'cursor': found.next_cursor})}" if found.next_cursor else None,
        paged=cursor is not None,
    )

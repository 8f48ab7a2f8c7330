"""Departments for org admins: add one, rename one, deactivate or reactivate it, require its generations
to be processed in one country — through the API's ``departments.service`` (codes unique per
organization, every change audited). A department's budget is set on its dashboard."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal
from urllib.parse import quote_plus

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from donatello.core.errors import DomainError
from donatello.departments import service as departments
from donatello.departments.schemas import DepartmentCreate, DepartmentUpdate
from donatello.dependencies import DbSession
from donatello.tenancy import Action
from donatello.web.dependencies import Viewer, WebRoute, page, requiring
from donatello.web.forms import FormState

router = APIRouter(route_class=WebRoute, include_in_schema=False)

Admin = Annotated[Viewer, Depends(requiring(Action.MANAGE_DEPARTMENTS))]
Changing = Annotated[Viewer, Depends(requiring(Action.MANAGE_DEPARTMENTS, changes_state=True))]


COUNTRY_HINT = "Give the country as its two-letter ISO code (e.g. AU), or leave it empty for anywhere."
#: what a valid value looks like, said beside the field the schema refused
HINTS = {
    "name": "Give the department a name (at most 255 characters).",
    "code": "Use capital letters, digits, - or _ for the code, starting with a letter or digit (e.g. MKTG).",
}


async def _page(
    request: Request, viewer: Viewer, session: DbSession, *, done: str = "", form: FormState | None = None
) -> HTMLResponse:
    listed = await departments.list_departments(session, viewer.principal, None, 200)
    form = form or FormState()
    return page(
        request,
        "departments.html",
        status=form.status,
        viewer=viewer,
        departments=listed.items,
        done=done,
        form=form,
    )


@router.get("/departments", response_class=HTMLResponse)
async def department_list(
    request: Request, viewer: Admin, session: DbSession, done: str = ""
) -> HTMLResponse:
    return await _page(request, viewer, session, done=done[:100])


@router.post("/departments", response_model=None)
async def add_department(
    request: Request,
    viewer: Changing,
    session: DbSession,
    name: Annotated[str, Form(max_length=255)] = "",
    code: Annotated[str, Form(max_length=50)] = "",
) -> HTMLResponse | RedirectResponse:
    """A refused department (a code already in use, a code of the wrong shape) is the form again."""
    form = FormState("add", {"name": name, "code": code})
    try:
        body = DepartmentCreate(name=name.strip(), code=code.strip().upper())
        async with session.begin_nested():
            department = await departments.create(session, viewer.principal, body)
    except (ValidationError, DomainError) as error:
        rejected = form.rejecting(
            error,
            hints=HINTS,
            types={"department-code-taken": "code"},
            words={
                "department-code-taken": f"{code.strip().upper()} is already another department's code; "
                "choose another."
            },
        )
        return await _page(request, viewer, session, form=rejected)
    return RedirectResponse(f"/departments?done=Added+{department.code}", status_code=303)


@router.post("/departments/{department_id}", response_model=None)
async def change_department(
    request: Request,
    department_id: uuid.UUID,
    viewer: Changing,
    session: DbSession,
    action: Annotated[Literal["rename", "deactivate", "reactivate", "residency"], Form()],
    name: Annotated[str, Form(max_length=255)] = "",
    country: Annotated[str, Form(max_length=20)] = "",
) -> HTMLResponse | RedirectResponse:
    form = FormState(
        f"{'residency' if action == 'residency' else 'rename'}-{department_id}",
        {"name": name, "country": country},
    )
    try:
        if action == "rename":
            body = DepartmentUpdate(name=name.strip())
        elif action == "residency":  # empty: anywhere
            body = DepartmentUpdate(require_processing_in=country.strip().upper() or None)
        else:
            body = DepartmentUpdate(is_active=action == "reactivate")
        async with session.begin_nested():
            department = await departments.update(session, viewer.principal, department_id, body)
    except (ValidationError, DomainError) as error:
        rejected = form.rejecting(
            error, hints={**HINTS, "country": COUNTRY_HINT}, fields={"require_processing_in": "country"}
        )
        return await _page(request, viewer, session, form=rejected)
    verb = {
        "rename": "Renamed",
        "deactivate": "Deactivated",
        "reactivate": "Reactivated",
        "residency": "Saved the processing country of",
    }[action]
    return RedirectResponse(f"/departments?done={quote_plus(f'{verb} {department.code}')}", status_code=303)

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

from donatello.core.errors import ValidationFailed
from donatello.departments import service as departments
from donatello.departments.schemas import DepartmentCreate, DepartmentUpdate
from donatello.dependencies import DbSession
from donatello.tenancy import Permission
from donatello.web.dependencies import Viewer, WebRoute, page, requiring

router = APIRouter(route_class=WebRoute, include_in_schema=False)

Admin = Annotated[Viewer, Depends(requiring(Permission.DEPARTMENTS_MANAGE))]
Changing = Annotated[Viewer, Depends(requiring(Permission.DEPARTMENTS_MANAGE, changes_state=True))]


def _invalid(error: ValidationError) -> ValidationFailed:
    fields = ", ".join(str(e["loc"][-1]) for e in error.errors())
    return ValidationFailed(
        f"Check the {fields}: a name, and a code of capital letters, digits, - or _ (e.g. MKTG)."
    )


@router.get("/departments", response_class=HTMLResponse)
async def department_list(
    request: Request, viewer: Admin, session: DbSession, done: str = ""
) -> HTMLResponse:
    listed = await departments.list_departments(session, viewer.principal, None, 200)
    return page(request, "departments.html", viewer=viewer, departments=listed.items, done=done[:100])


@router.post("/departments", response_model=None)
async def add_department(
    viewer: Changing,
    session: DbSession,
    name: Annotated[str, Form(max_length=255)] = "",
    code: Annotated[str, Form(max_length=50)] = "",
) -> RedirectResponse:
    try:
        body = DepartmentCreate(name=name.strip(), code=code.strip().upper())
    except ValidationError as error:
        raise _invalid(error) from None
    department = await departments.create(session, viewer.principal, body)
    return RedirectResponse(f"/departments?done=Added+{department.code}", status_code=303)


@router.post("/departments/{department_id}", response_model=None)
async def change_department(
    department_id: uuid.UUID,
    viewer: Changing,
    session: DbSession,
    action: Annotated[Literal["rename", "deactivate", "reactivate", "residency"], Form()],
    name: Annotated[str, Form(max_length=255)] = "",
    country: Annotated[str, Form(max_length=20)] = "",
) -> RedirectResponse:
    try:
        if action == "rename":
            body = DepartmentUpdate(name=name.strip())
        elif action == "residency":  # empty: anywhere
            body = DepartmentUpdate(require_processing_in=country.strip().upper() or None)
        else:
            body = DepartmentUpdate(is_active=action == "reactivate")
    except ValidationError as error:
        if action == "residency":
            raise ValidationFailed(
                "Give the country as its two-letter ISO code (e.g. AU), or leave it empty for anywhere.",
                field="require_processing_in",
            ) from None
        raise _invalid(error) from None
    department = await departments.update(session, viewer.principal, department_id, body)
    verb = {
        "rename": "Renamed",
        "deactivate": "Deactivated",
        "reactivate": "Reactivated",
        "residency": "Saved the processing country of",
    }[action]
    return RedirectResponse(f"/departments?done={quote_plus(f'{verb} {department.code}')}", status_code=303)

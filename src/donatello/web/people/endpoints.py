"""People for org admins: search (name or e-mail) and page through the organization's users with their last
sign-in, add a person ahead of their first sign-in through the API's ``users.service.create`` (an e-mail at
one of the organization's domains, a role not above one's own; their first Entra sign-in claims the account;
audited), change a role, department or active state through ``users.service.update`` (never above one's own
role, never one's own access; deactivation ends sessions, keys and webhooks at once; audited). Department
managers read their department's people (``users:read``) without the controls."""

from __future__ import annotations

import uuid
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from donatello.core.errors import DomainError, ValidationFailed
from donatello.departments import service as departments
from donatello.dependencies import DbSession
from donatello.tenancy import RANK, Action, Permission, Role
from donatello.users import service as users
from donatello.users.errors import RoleAboveYourOwn
from donatello.users.schemas import UserCreate, UserFilters, UserUpdate
from donatello.web.dependencies import Viewer, WebRoute, page, requiring
from donatello.web.forms import FormState

router = APIRouter(route_class=WebRoute, include_in_schema=False)

Reader = Annotated[Viewer, Depends(requiring(Action.READ_PEOPLE))]
Manager = Annotated[Viewer, Depends(requiring(Action.MANAGE_PEOPLE, changes_state=True))]
PAGE = 25
FIELDS = {"department_id": "department", "is_active": "active"}
HINTS = {
    "role": "Choose a role from the list.",
    "department": "Choose a department from the list.",
    "email": "Give the person's work e-mail address, e.g. alex@example.com.",
    "display_name": "Give a name of at most 255 characters, or leave it empty.",
}
#: the add form's fields, named as the API names them
ADD_FIELDS = {"department_id": "department"}


@router.get("/people", response_class=HTMLResponse)
async def people(
    request: Request,
    viewer: Reader,
    session: DbSession,
    search: Annotated[str, Query(max_length=255)] = "",
    role: Annotated[str, Query(max_length=20)] = "",
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    done: Annotated[str, Query(max_length=300)] = "",
) -> HTMLResponse:
    return await _page(request, viewer, session, search, role, cursor, done=done)


async def _page(
    request: Request,
    viewer: Viewer,
    session: DbSession,
    search: str = "",
    role: str = "",
    cursor: str | None = None,
    *,
    done: str = "",
    form: FormState | None = None,
) -> HTMLResponse:
    form = form or FormState()
    try:
        filters = UserFilters(name_or_email_contains=search.strip() or None, role=role or None)
    except ValidationError as error:  # a role that is not one: everyone, and why
        form = FormState("filters", {"search": search, "role": role}).rejecting(error, hints=HINTS)
        filters, role = UserFilters(name_or_email_contains=search.strip() or None), ""
    found = await users.list_users(session, viewer.principal, filters, cursor, PAGE)
    manages = viewer.can(Permission.USERS_MANAGE)
    listed = await departments.list_departments(session, viewer.principal, None, 200) if manages else None
    own_rank = RANK[viewer.principal.role]
    return page(
        request,
        "people.html",
        status=form.status,
        form=form,
        viewer=viewer,
        found=found,
        manages=manages,
        adds=manages and not viewer.principal.platform_wide,
        manages_keys=viewer.can(Permission.API_KEYS_MANAGE),
        departments=listed.items if listed else [],
        grantable=[r.value for r in Role if RANK[r] <= own_rank],
        roles=[r.value for r in Role],
        rank={r.value: RANK[r] for r in Role},
        own_rank=own_rank,
        search=search,
        role=role,
        done=done,
    )


@router.post("/people", response_model=None)
async def add_person(
    request: Request,
    viewer: Manager,
    session: DbSession,
    email: Annotated[str, Form(max_length=255)] = "",
    display_name: Annotated[str, Form(max_length=255)] = "",
    role: Annotated[str, Form(max_length=20)] = Role.STANDARD_USER.value,
    department: Annotated[str, Form(max_length=36)] = "",
) -> HTMLResponse | RedirectResponse:
    """A refused addition (a domain the organization does not own, an address already in use, a role
    above one's own) is the add form again, as typed, with the reason beside its field."""
    typed = {"email": email, "display_name": display_name, "role": role, "department": department}
    form = FormState("add", typed)
    try:
        body = UserCreate.model_validate(
            {
                "email": email.strip(),
                "display_name": display_name.strip() or None,
                "role": role,
                "department_id": department or None,
            }
        )
        async with session.begin_nested():
            user = await users.create(session, viewer.principal, body)
    except RoleAboveYourOwn as refused:  # the list offers none; said on the form all the same
        rejected = FormState("add", typed, {"role": refused.detail}, 422)
        return await _page(request, viewer, session, form=rejected)
    except (ValidationError, DomainError) as error:
        rejected = form.rejecting(
            error, fields=ADD_FIELDS, hints=HINTS, words={ValidationFailed.type: _department_gone}
        )
        return await _page(request, viewer, session, form=rejected)
    said = f"Added {user.email}: their first sign-in with Microsoft at that address opens their account"
    return RedirectResponse(f"/people?done={quote(said)}&search={quote(user.email)}", status_code=303)


@router.post("/people/{user_id}", response_model=None)
async def change_person(
    request: Request,
    user_id: uuid.UUID,
    viewer: Manager,
    session: DbSession,
    role: Annotated[str, Form(max_length=20)],
    department: Annotated[str, Form(max_length=36)] = "",
    active: Annotated[str, Form(max_length=5)] = "",
) -> HTMLResponse | RedirectResponse:
    """A change refused (a department that is no longer there) is that person's form again, as chosen."""
    values: dict[str, object] = {"department_id": department or None}
    if user_id != viewer.principal.user_id:  # one's own role and access are not one's to change
        values |= {"role": role, "is_active": active == "on"}
    form = FormState(f"person-{user_id}", {"role": role, "department": department, "active": active == "on"})
    try:
        body = UserUpdate.model_validate(values)
        async with session.begin_nested():
            user = await users.update(session, viewer.principal, user_id, body)
    except (ValidationError, DomainError) as error:
        rejected = form.rejecting(
            error, fields=FIELDS, hints=HINTS, words={ValidationFailed.type: _department_gone}
        )
        return await _page(request, viewer, session, form=rejected)
    return RedirectResponse(f"/people?done={quote('Saved ' + user.email)}", status_code=303)


def _department_gone(error: DomainError) -> str:
    if error.extensions.get("field") == "department_id":
        return "That department is no longer in the organization; choose another."
    return error.detail

"""Asking for more from a refusal, and "My requests": each person's own requests with what was
decided, by whom and why. Asking goes through the API's own ``increase_requests.ask`` (who may ask,
for what, one open request at a time), so this page only lays out its answer."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.budgets import increase_requests
from donatello.budgets.errors import NoDepartment
from donatello.budgets.schemas import IncreaseRequestCreate
from donatello.core.errors import DomainError
from donatello.core.money import BUDGET_COLUMN
from donatello.dependencies import DbSession
from donatello.models import Department
from donatello.tenancy import Action, scoped_get
from donatello.web.dependencies import Viewer, WebRoute, page, requiring

router = APIRouter(route_class=WebRoute, include_in_schema=False)

Asker = Annotated[Viewer, Depends(requiring(Action.ASK_FOR_BUDGET))]
Asking = Annotated[Viewer, Depends(requiring(Action.ASK_FOR_BUDGET, changes_state=True))]

#: what a person reads next to a field the request model refused
FIELD_HINTS = {
    "amount_aud": "Give an amount in dollars and cents, more than A$0 and at most"
    f" A${BUDGET_COLUMN.maximum:,}.",
    "reason": "Say why you need it (at most 2,000 characters).",
    "refusal_id": "This request must answer one of your own refusals; generate again to get a new one.",
}


@router.get("/my-requests", response_class=HTMLResponse)
async def my_requests(
    request: Request, viewer: Asker, session: DbSession, asked: bool = False
) -> HTMLResponse:
    return await _page(request, viewer, session, asked=asked)


@router.post("/my-requests", response_model=None)
async def ask_from_refusal(
    request: Request,
    viewer: Asking,
    session: DbSession,
    refusal_id: Annotated[str, Form(max_length=40)] = "",
    amount_aud: Annotated[str, Form(max_length=20)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> HTMLResponse | RedirectResponse:
    """Ask for more, quoting a refusal of one's own; a mistake re-shows the form as typed, said next to
    the field it concerns."""
    principal = viewer.principal
    if principal.department_id is None:
        raise NoDepartment()
    typed = {"refusal_id": refusal_id, "amount_aud": amount_aud, "reason": reason}
    try:
        body = IncreaseRequestCreate.model_validate(
            {
                "amount_aud": amount_aud.strip().removeprefix("A$").replace(",", ""),
                "reason": reason.strip(),
                "refusal_id": refusal_id.strip() or None,
            }
        )
    except ValidationError as error:
        problems = {str(e["loc"][0]): FIELD_HINTS.get(str(e["loc"][0]), e["msg"]) for e in error.errors()}
        return await _page(request, viewer, session, status=422, typed=typed, problems=problems)
    attempt = await session.begin_nested()
    try:
        await increase_requests.ask(session, principal, principal.department_id, body)
    except DomainError as error:
        await attempt.rollback()
        field = str(error.extensions.get("field") or "")
        problems = {field if field in FIELD_HINTS else "form": error.detail}
        return await _page(request, viewer, session, status=error.status, typed=typed, problems=problems)
    await attempt.commit()
    return RedirectResponse("/my-requests?asked=true", status_code=303)


async def _page(
    request: Request,
    viewer: Viewer,
    session: DbSession,
    *,
    status: int = 200,
    asked: bool = False,
    typed: dict[str, str] | None = None,
    problems: dict[str, str] | None = None,
) -> HTMLResponse:
    principal = viewer.principal
    mine = await increase_requests.mine(session, principal, None, 50)
    names = await increase_requests.people(
        session, principal, {item.decided_by for item in mine.items if item.decided_by}
    )
    return page(
        request,
        "my_requests.html",
        status=status,
        viewer=viewer,
        requests=mine.items,
        departments=await _departments(session, viewer, {item.department_id for item in mine.items}),
        names=names,
        asked=asked,
        typed=typed,
        problems=problems or {},
    )


async def _departments(session: AsyncSession, viewer: Viewer, ids: set[uuid.UUID]) -> dict[uuid.UUID, Any]:
    return {id_: await scoped_get(session, viewer.principal, Department, id_) for id_ in ids}

"""The org admin's queue of requests for more budget: approve (in full or in part) or decline with a
reason, through the API's own ``increase_requests.decide`` (the same lock order, audit and alerts)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from donatello.budgets import increase_requests
from donatello.budgets.schemas import IncreaseDecision
from donatello.core.errors import DomainError
from donatello.core.money import BUDGET_COLUMN
from donatello.dependencies import DbSession
from donatello.models import Department
from donatello.reports import service as reports
from donatello.tenancy import Action, scoped_get
from donatello.web.dependencies import Viewer, WebRoute, page, requiring
from donatello.web.forms import FormState

router = APIRouter(route_class=WebRoute, include_in_schema=False)

Admin = Annotated[Viewer, Depends(requiring(Action.DECIDE_BUDGET_REQUESTS))]
Deciding = Annotated[Viewer, Depends(requiring(Action.DECIDE_BUDGET_REQUESTS, changes_state=True))]


#: what a valid value looks like, beside the field the decision model refused
HINTS = {
    "amount_aud": "Give the amount to approve in dollars and cents, more than A$0 and at most"
    f" A${BUDGET_COLUMN.maximum:,} (empty approves what was asked).",
    "reason": "Say why (at most 2,000 characters): the person who asked reads it.",
}


@router.get("/budget-requests", response_class=HTMLResponse)
async def queue(
    request: Request, viewer: Admin, session: DbSession, decided: uuid.UUID | None = None
) -> HTMLResponse:
    return await _queue(request, viewer, session, decided)


async def _queue(
    request: Request,
    viewer: Viewer,
    session: DbSession,
    decided: uuid.UUID | None = None,
    form: FormState | None = None,
) -> HTMLResponse:
    principal = viewer.principal
    form = form or FormState()
    waiting = await increase_requests.queue(session, principal, "open", None, 50)
    recent = await increase_requests.queue(session, principal, None, None, 10)
    departments: dict[uuid.UUID, Department] = {}
    for item in [*waiting.items, *recent.items]:
        if item.department_id not in departments:
            departments[item.department_id] = await scoped_get(
                session, principal, Department, item.department_id
            )
    # The context each open request is decided in: its department's period so far and its asker's use.
    standing = {
        id_: (
            await reports.current_status(session, principal, id_),
            await reports.burn_down(session, principal, id_, None),
        )
        for id_ in {item.department_id for item in waiting.items}
    }
    used = {
        item.id: await increase_requests.requester_use(session, principal, item) for item in waiting.items
    }
    people = {item.requested_by for item in [*waiting.items, *recent.items]}
    return page(
        request,
        "budget_requests.html",
        status=form.status,
        form=form,
        viewer=viewer,
        waiting=waiting.items,
        recent=[item for item in recent.items if item.status != "open"],
        departments=departments,
        standing=standing,
        used=used,
        names=await increase_requests.people(session, principal, people),
        decided=next((item for item in recent.items if item.id == decided), None),
    )


@router.post("/budget-requests/{request_id}/decision", response_model=None)
async def decide(
    request: Request,
    request_id: uuid.UUID,
    viewer: Deciding,
    session: DbSession,
    decision: Annotated[Literal["approved", "declined"], Form()],
    amount_aud: Annotated[str, Form(max_length=20)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> HTMLResponse | RedirectResponse:
    """A decision refused (no reason, an amount above the one asked) is that request's form again."""
    amount = amount_aud.strip().removeprefix("A$").replace(",", "") if decision == "approved" else ""
    form = FormState(f"decide-{request_id}", {"amount_aud": amount_aud, "reason": reason})
    try:
        body = IncreaseDecision.model_validate(
            {"decision": decision, "amount_aud": amount or None, "reason": reason.strip()}
        )
        async with session.begin_nested():
            decided = await increase_requests.decide(session, viewer.principal, request_id, body)
    except (ValidationError, DomainError) as error:
        return await _queue(request, viewer, session, form=form.rejecting(error, hints=HINTS))
    return RedirectResponse(f"/budget-requests?decided={decided.id}", status_code=303)

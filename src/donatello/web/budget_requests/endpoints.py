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
from donatello.core.errors import ValidationFailed
from donatello.core.money import BUDGET_COLUMN
from donatello.dependencies import DbSession
from donatello.models import Department
from donatello.reports import service as reports
from donatello.tenancy import Permission, scoped_get
from donatello.web.dependencies import Viewer, WebRoute, page, requiring

router = APIRouter(route_class=WebRoute, include_in_schema=False)

Admin = Annotated[Viewer, Depends(requiring(Permission.BUDGETS_MANAGE))]
Deciding = Annotated[Viewer, Depends(requiring(Permission.BUDGETS_MANAGE, changes_state=True))]


@router.get("/budget-requests", response_class=HTMLResponse)
async def queue(
    request: Request, viewer: Admin, session: DbSession, decided: uuid.UUID | None = None
) -> HTMLResponse:
    principal = viewer.principal
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
    request_id: uuid.UUID,
    viewer: Deciding,
    session: DbSession,
    decision: Annotated[Literal["approved", "declined"], Form()],
    amount_aud: Annotated[str, Form(max_length=20)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> RedirectResponse:
    amount = amount_aud.strip().removeprefix("A$") if decision == "approved" else ""
    try:
        body = IncreaseDecision.model_validate(
            {"decision": decision, "amount_aud": amount or None, "reason": reason.strip()}
        )
    except ValidationError as error:
        fields = ", ".join(str(e["loc"][-1]).replace("_aud", "") for e in error.errors())
        raise ValidationFailed(
            f"Check the decision's {fields}: an amount in dollars (at most A${BUDGET_COLUMN.maximum:,})"
            " and a reason."
        ) from None
    decided = await increase_requests.decide(session, viewer.principal, request_id, body)
    return RedirectResponse(f"/budget-requests?decided={decided.id}", status_code=303)

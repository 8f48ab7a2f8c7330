"""One's notifications in the browser: the inbox (paged, newest first), mark one or all read, and which
kinds also arrive by e-mail — through ``notifications.service``, so a person only ever reaches their own."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from donatello.dependencies import DbSession
from donatello.notifications import service
from donatello.web.dependencies import Checked, SignedInViewer, WebRoute, page

router = APIRouter(route_class=WebRoute, include_in_schema=False)

PAGE_SIZE = 20


@router.get("/notifications", response_class=HTMLResponse)
async def inbox(
    request: Request, viewer: SignedInViewer, session: DbSession, cursor: str | None = None, done: str = ""
) -> HTMLResponse:
    listed = await service.inbox(session, viewer.principal, cursor, PAGE_SIZE)
    return page(
        request,
        "notifications.html",
        viewer=viewer,
        notifications=listed,
        choices=await service.email_choices(session, viewer.principal),
        first_page=cursor is None,
        done=done[:200],
    )


@router.post("/notifications/read-all")
async def read_all(viewer: Checked, session: DbSession) -> RedirectResponse:
    marked = await service.mark_all_read(session, viewer.principal)
    return RedirectResponse(f"/notifications?done=Marked {marked} read", status_code=303)


@router.post("/notifications/email")
async def choose_email(
    viewer: Checked, session: DbSession, kinds: Annotated[list[str] | None, Form(max_length=50)] = None
) -> RedirectResponse:
    await service.choose_email(session, viewer.principal, set(kinds or []))
    return RedirectResponse("/notifications?done=Your e-mail choices are saved", status_code=303)


@router.post("/notifications/{notification_id}/read")
async def read_one(notification_id: uuid.UUID, viewer: Checked, session: DbSession) -> RedirectResponse:
    notification = await service.mark_read(session, viewer.principal, notification_id)
    return RedirectResponse(f"/notifications#n-{notification.id}", status_code=303)

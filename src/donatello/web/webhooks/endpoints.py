"""Webhooks: list them (paged), register one, and on its own page change its address and events (the
address checked like a new one), rotate its signing secret, ping it and watch the delivery, pause or
re-enable it, delete it — through the API's ``webhooks.service`` (the same
checks of the target, sealing of the secret, audit events, and the same reach: an org admin sees the
organization's webhooks, a power user their own; anyone else's is not found).

A new signing secret (create, rotate) is shown once: the POST leaves it as the browser session's sealed
one-time notice and redirects to the webhook's page, which takes it; a reload shows it no more."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from donatello.core.errors import DomainError
from donatello.dependencies import DbSession, resources_of
from donatello.sessions import browser
from donatello.tenancy import Action
from donatello.web import messages
from donatello.web.dependencies import Viewer, WebRoute, page, requiring
from donatello.web.forms import FormState
from donatello.webhooks import service as webhooks
from donatello.webhooks.catalogue import EVENT_TYPES
from donatello.webhooks.dependencies import OutboundDeps
from donatello.webhooks.schemas import WebhookCreate, WebhookRead, WebhookUpdate

router = APIRouter(route_class=WebRoute, include_in_schema=False)

# Everyone who may hold a webhook (``webhooks:manage`` holders hold ``webhooks:own`` too); the service
# narrows what each one reaches.
Owner = Annotated[Viewer, Depends(requiring(Action.OWN_WEBHOOKS))]
Changing = Annotated[Viewer, Depends(requiring(Action.OWN_WEBHOOKS, changes_state=True))]
NOTICE = "webhook-secret"
PAGE_SIZE = 20
RECENT_DELIVERIES = 20


#: the API's field -> the form's, and what a valid value looks like
FIELDS = {"webhook_url": "url", "event_types": "events"}
HINTS = {
    "url": "Give an https:// address with a host name (no user name, password or #fragment).",
    "events": "Choose at least one event to send.",
}


@router.get("/webhooks", response_class=HTMLResponse)
async def webhook_list(
    request: Request, viewer: Owner, session: DbSession, cursor: str | None = None, done: str = ""
) -> HTMLResponse:
    return await _list_page(request, viewer, session, cursor=cursor, done=done[:200])


async def _list_page(
    request: Request,
    viewer: Viewer,
    session: DbSession,
    *,
    cursor: str | None = None,
    done: str = "",
    form: FormState | None = None,
) -> HTMLResponse:
    listed = await webhooks.list_webhooks(session, viewer.principal, None, cursor, PAGE_SIZE)
    form = form or FormState()
    return page(
        request,
        "webhooks.html",
        status=form.status,
        viewer=viewer,
        webhooks=listed,
        event_types=EVENT_TYPES,
        first_page=cursor is None,
        done=done,
        form=form,
    )


@router.post("/webhooks", response_model=None)
async def register(
    request: Request,
    viewer: Changing,
    session: DbSession,
    outbound: OutboundDeps,
    url: Annotated[str, Form(max_length=2048)] = "",
    events: Annotated[list[str] | None, Form()] = None,
) -> HTMLResponse | RedirectResponse:
    """A refused address (one that does not resolve, or not https) is the form again, as typed."""
    form = FormState("create", {"url": url, "events": events or []})
    try:
        body = WebhookCreate(webhook_url=url.strip(), event_types=events or [])
        async with session.begin_nested():
            created = await webhooks.create(session, viewer.principal, body, outbound)
    except (ValidationError, DomainError) as error:
        rejected = form.rejecting(
            error,
            fields=FIELDS,
            hints=HINTS,
            words={"webhook-target-not-allowed": messages.unresolvable_target},
        )
        return await _list_page(request, viewer, session, form=rejected)
    await browser.leave_notice(
        session, resources_of(request).sealer, viewer.session, NOTICE, created.id, created.secret
    )
    return RedirectResponse(f"/webhooks/{created.id}", status_code=303)


@router.get("/webhooks/{webhook_id}", response_class=HTMLResponse)
async def webhook_page(
    request: Request, webhook_id: uuid.UUID, viewer: Owner, session: DbSession, done: str = ""
) -> HTMLResponse:
    return await _detail_page(request, webhook_id, viewer, session, done=done[:200])


async def _detail_page(
    request: Request,
    webhook_id: uuid.UUID,
    viewer: Viewer,
    session: DbSession,
    *,
    done: str = "",
    form: FormState | None = None,
) -> HTMLResponse:
    webhook = WebhookRead.model_validate(await webhooks.get(session, viewer.principal, webhook_id))
    secret = None
    if form is None:  # a refused edit is not the visit the one-time secret was left for
        secret = await browser.take_notice(
            session, resources_of(request).sealer, viewer.session, NOTICE, webhook.id
        )
    form = form or FormState()
    deliveries = await webhooks.deliveries(
        session, viewer.principal, webhook.id, None, None, RECENT_DELIVERIES
    )
    return page(
        request,
        "webhook.html",
        status=form.status,
        form=form,
        event_types=EVENT_TYPES,
        viewer=viewer,
        webhook=webhook,
        webhook_id=webhook.id,
        host=urlsplit(webhook.webhook_url).hostname,
        secret=secret,
        deliveries=deliveries.items,
        delivery_failure=messages.delivery_failure,
        done=done,
    )


@router.post("/webhooks/{webhook_id}", response_model=None)
async def edit(
    request: Request,
    webhook_id: uuid.UUID,
    viewer: Changing,
    session: DbSession,
    outbound: OutboundDeps,
    url: Annotated[str, Form(max_length=2048)] = "",
    events: Annotated[list[str] | None, Form()] = None,
) -> HTMLResponse | RedirectResponse:
    """Change the address and the events; a refused address is this form again, as typed."""
    form = FormState("edit", {"url": url, "events": events or []})
    try:
        body = WebhookUpdate(webhook_url=url.strip(), event_types=events or [])
        async with session.begin_nested():
            await webhooks.update(session, viewer.principal, webhook_id, body, outbound)
    except (ValidationError, DomainError) as error:
        rejected = form.rejecting(
            error,
            fields=FIELDS,
            hints=HINTS,
            words={"webhook-target-not-allowed": messages.unresolvable_target},
        )
        return await _detail_page(request, webhook_id, viewer, session, form=rejected)
    return _back(webhook_id, "Saved the address and events")


@router.get("/webhooks/{webhook_id}/deliveries", response_class=HTMLResponse)
async def delivery_table(
    request: Request, webhook_id: uuid.UUID, viewer: Owner, session: DbSession
) -> HTMLResponse:
    """The recent deliveries: what the page's script polls while one is still pending."""
    deliveries = await webhooks.deliveries(
        session, viewer.principal, webhook_id, None, None, RECENT_DELIVERIES
    )
    return page(
        request,
        "partials/webhook_deliveries.html",
        viewer=viewer,
        webhook_id=webhook_id,
        deliveries=deliveries.items,
        delivery_failure=messages.delivery_failure,
    )


@router.post("/webhooks/{webhook_id}/ping", response_model=None)
async def ping(webhook_id: uuid.UUID, viewer: Changing, session: DbSession) -> RedirectResponse:
    await webhooks.ping(session, viewer.principal, webhook_id)
    return _back(webhook_id, "Ping queued: its delivery is below")


@router.post("/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver", response_model=None)
async def redeliver(
    webhook_id: uuid.UUID, delivery_id: uuid.UUID, viewer: Changing, session: DbSession
) -> RedirectResponse:
    """Send a delivered or failed event again (same delivery id, a fresh series of attempts)."""
    again = await webhooks.redeliver(session, viewer.principal, webhook_id, delivery_id)
    return _back(webhook_id, f"{again.event_type} queued again: its delivery is below")


@router.post("/webhooks/{webhook_id}/rotate-secret", response_model=None)
async def rotate_secret(
    request: Request, webhook_id: uuid.UUID, viewer: Changing, session: DbSession, outbound: OutboundDeps
) -> RedirectResponse:
    rotated = await webhooks.rotate_secret(session, viewer.principal, webhook_id, outbound)
    await browser.leave_notice(
        session, resources_of(request).sealer, viewer.session, NOTICE, rotated.id, rotated.secret
    )
    return RedirectResponse(f"/webhooks/{rotated.id}", status_code=303)


@router.post("/webhooks/{webhook_id}/state", response_model=None)
async def change_state(
    webhook_id: uuid.UUID,
    viewer: Changing,
    session: DbSession,
    outbound: OutboundDeps,
    action: Annotated[Literal["pause", "enable"], Form()],
) -> RedirectResponse:
    body = WebhookUpdate(is_active=action == "enable")
    await webhooks.update(session, viewer.principal, webhook_id, body, outbound)
    return _back(webhook_id, "Deliveries paused" if action == "pause" else "Deliveries enabled again")


@router.post("/webhooks/{webhook_id}/delete", response_model=None)
async def delete(webhook_id: uuid.UUID, viewer: Changing, session: DbSession) -> RedirectResponse:
    webhook = await webhooks.get(session, viewer.principal, webhook_id)
    host = urlsplit(webhook.webhook_url).hostname or "the webhook"
    await webhooks.delete(session, viewer.principal, webhook_id)
    return RedirectResponse(f"/webhooks?done={quote(f'Deleted the webhook to {host}')}", status_code=303)


def _back(webhook_id: uuid.UUID, done: str) -> RedirectResponse:
    return RedirectResponse(f"/webhooks/{webhook_id}?done={quote(done)}", status_code=303)

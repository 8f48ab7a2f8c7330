"""The organization's audit log for its admins: filters by person, event type, resource and local days,
paged newest first (``audit.service.list_events``, as ``GET /v1/audit-events``), and on request the
hash chain's verification for the organization (``audit.service.verify``, as ``donatello audit verify``)."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from donatello.audit import service as audit
from donatello.audit.catalogue import EVENT_TYPES
from donatello.audit.dependencies import Store
from donatello.audit.schemas import AuditFilters
from donatello.core.errors import NotFound, ValidationFailed
from donatello.dependencies import DbSession
from donatello.tenancy import Action
from donatello.users import service as users
from donatello.users.schemas import UserFilters
from donatello.web.audit_log import labels
from donatello.web.dependencies import Viewer, WebRoute, page, requiring

router = APIRouter(route_class=WebRoute, include_in_schema=False)

Auditor = Annotated[Viewer, Depends(requiring(Action.READ_AUDIT_LOG))]
Text = Annotated[str, Query(max_length=100)]
PAGE = 25


def _day(value: str, zone: str, *, end: bool) -> datetime | None:
    """A local day's first instant (``end``: the next day's, so the day is included)."""
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise ValidationFailed("Dates are days as YYYY-MM-DD.", field="to" if end else "from") from None
    return datetime.combine(day + timedelta(days=1) if end else day, time.min, ZoneInfo(zone))


@router.get("/audit", response_class=HTMLResponse)
async def audit_log(
    request: Request,
    viewer: Auditor,
    session: DbSession,
    store: Store,
    user: Annotated[str, Query(max_length=36)] = "",
    event_type: Text = "",
    resource_type: Text = "",
    resource_id: Text = "",
    since: Annotated[str, Query(alias="from", max_length=10)] = "",
    until: Annotated[str, Query(alias="to", max_length=10)] = "",
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    verify: bool = False,
) -> HTMLResponse:
    try:
        user_id = uuid.UUID(user) if user else None
    except ValueError:
        raise ValidationFailed("Choose a person from the list.", field="user") from None
    filters = AuditFilters(
        user_id=user_id,
        event_type=event_type.strip() or None,
        resource_type=resource_type.strip() or None,
        resource_id=resource_id.strip() or None,
        since=_day(since, viewer.timezone, end=False),
        until=_day(until, viewer.timezone, end=True),
    )
    events = await audit.list_events(session, store, viewer.principal, filters, cursor, PAGE)
    people = await users.list_users(session, viewer.principal, UserFilters(), None, 200)
    emails = {person.id: person.email for person in people.items}
    for missing in labels.person_ids(events.items) - emails.keys():
        try:
            emails[missing] = (await users.get(session, viewer.principal, missing)).email
        except NotFound:
            continue  # no longer in the organization: named as such
    verification = await audit.verify(session, store, viewer.principal.organization_id) if verify else None
    chosen = {
        "user": user,
        "event_type": event_type,
        "resource_type": resource_type,
        "resource_id": resource_id,
        "from": since,
        "to": until,
    }
    return page(
        request,
        "audit.html",
        viewer=viewer,
        events=events,
        people=people.items,
        actors={event.id: labels.actor(event, emails) for event in events.items},
        links={event.id: labels.resource_href(event, emails) for event in events.items},
        event_types=EVENT_TYPES,
        chosen=chosen,
        kept={key: value for key, value in chosen.items() if value},
        verification=verification,
    )

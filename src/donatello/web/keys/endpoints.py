"""One's own API keys: create one, list them, revoke one — the API's ``api_keys.service`` (a key carries
only permissions its owner holds; audited). Creating is post-redirect-get: the POST leaves the secret as
the session's sealed one-time notice and redirects to ``/api-keys?created=<id>``, which shows it once; a
reload (or a second visit) of that address finds the key but not its secret, and never posts again."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from donatello.api_keys import service as keys
from donatello.api_keys.schemas import ApiKeyCreate
from donatello.core.clock import utcnow
from donatello.core.errors import DomainError, ValidationFailed
from donatello.core.pagination import MAX_LIMIT
from donatello.dependencies import DbSession, resources_of
from donatello.sessions import browser
from donatello.tenancy import Action, Permission
from donatello.web import messages
from donatello.web.dependencies import Viewer, WebRoute, page, requiring
from donatello.web.forms import FormState

router = APIRouter(route_class=WebRoute, include_in_schema=False)

Owner = Annotated[Viewer, Depends(requiring(Action.OWN_API_KEYS))]
Creating = Annotated[Viewer, Depends(requiring(Action.OWN_API_KEYS, changes_state=True))]


NOTICE = "api-key"
#: what a valid value looks like, beside the field the request model refused
HINTS = {
    "name": "Give the key a name (at most 100 characters), e.g. CI pipeline.",
    "scopes": "Choose at least one permission for the key.",
    "days": "Give a whole number of days from 1 to 730, or leave it empty for a key that never expires.",
}


async def _page(
    request: Request,
    viewer: Viewer,
    session: DbSession,
    created: uuid.UUID | None = None,
    status: int = 200,
    **extra: Any,
) -> HTMLResponse:
    # One page of the newest keys is every key a person holds in practice (the API pages further).
    own = (await keys.list_keys(session, viewer.principal, viewer.principal.user_id, None, MAX_LIMIT)).items
    scopes = [(p.value, messages.scope_label(p)) for p in Permission if viewer.can(p)]
    made = next((key for key in own if key.id == created), None)
    secret = None
    if made is not None:
        secret = await browser.take_notice(
            session, resources_of(request).sealer, viewer.session, NOTICE, made.id
        )
    return page(
        request,
        "api_keys.html",
        status=status,
        viewer=viewer,
        keys=own,
        scopes=scopes,
        labels={p.value: messages.scope_label(p) for p in Permission},
        created=made,
        secret=secret,
        **extra,
    )


@router.get("/api-keys", response_class=HTMLResponse)
async def api_keys(
    request: Request, viewer: Owner, session: DbSession, revoked: str = "", created: uuid.UUID | None = None
) -> HTMLResponse:
    """``created``: the key just made — with its secret the first time this address is loaded only."""
    return await _page(request, viewer, session, created, revoked=revoked[:100])


@router.post("/api-keys", response_model=None)
async def create_key(
    request: Request,
    viewer: Creating,
    session: DbSession,
    name: Annotated[str, Form(max_length=100)] = "",
    scopes: Annotated[list[str] | None, Form()] = None,
    days: Annotated[str, Form(max_length=10)] = "",
) -> HTMLResponse | RedirectResponse:
    form = FormState("create", {"name": name, "scopes": scopes or [], "days": days})
    try:
        body = ApiKeyCreate.model_validate(
            {
                "name": name.strip(),
                "scopes": scopes or [],
                "expires_at": utcnow() + timedelta(days=_days(days)) if days.strip() else None,
            }
        )
        async with session.begin_nested():
            created = await keys.create(session, viewer.principal, body)
    except (ValidationError, DomainError) as error:
        rejected = form.rejecting(error, fields={"expires_at": "days"}, hints=HINTS)
        return await _page(request, viewer, session, form=rejected, status=rejected.status, revoked="")
    await browser.leave_notice(
        session, resources_of(request).sealer, viewer.session, NOTICE, created.id, created.key
    )
    return RedirectResponse(f"/api-keys?created={created.id}", status_code=303)


def _days(text: str) -> int:
    try:
        days = int(text.strip())
    except ValueError:
        days = 0
    if not 1 <= days <= 730:
        raise ValidationFailed(HINTS["days"], field="days")
    return days


@router.post("/api-keys/{key_id}/revoke", response_model=None)
async def revoke_key(key_id: uuid.UUID, viewer: Creating, session: DbSession) -> RedirectResponse:
    key = await keys.revoke(session, viewer.principal, key_id)
    return RedirectResponse(f"/api-keys?revoked={quote(key.key_name)}", status_code=303)

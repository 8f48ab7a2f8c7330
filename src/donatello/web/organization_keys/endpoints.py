"""Every API key of the organization, for org admins (``api-keys:manage``): whose it is, what it may do
(in words), when it was last used and when it expires, newest first and paged — and revoking one through
the API's ``api_keys.service.revoke`` (audited as ``api_key.revoked``), so a key that leaked or outlived
its purpose stops at once whoever made it."""

from __future__ import annotations

import uuid
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from donatello.api_keys import service as keys
from donatello.dependencies import DbSession
from donatello.tenancy import Action, Permission
from donatello.users import service as users
from donatello.web import messages
from donatello.web.dependencies import Viewer, WebRoute, page, requiring

router = APIRouter(route_class=WebRoute, include_in_schema=False)

Admin = Annotated[Viewer, Depends(requiring(Action.MANAGE_API_KEYS))]
Revoking = Annotated[Viewer, Depends(requiring(Action.MANAGE_API_KEYS, changes_state=True))]
PAGE = 25


@router.get("/organization/api-keys", response_class=HTMLResponse)
async def organization_keys(
    request: Request,
    viewer: Admin,
    session: DbSession,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    revoked: Annotated[str, Query(max_length=200)] = "",
) -> HTMLResponse:
    found = await keys.list_keys(session, viewer.principal, None, cursor, PAGE)
    owners = await users.emails(session, viewer.principal, {key.user_id for key in found.items})
    return page(
        request,
        "organization_api_keys.html",
        viewer=viewer,
        found=found,
        owners=owners,
        labels={p.value: messages.scope_label(p) for p in Permission},
        revoked=revoked,
    )


@router.post("/organization/api-keys/{key_id}/revoke", response_model=None)
async def revoke_any_key(key_id: uuid.UUID, viewer: Revoking, session: DbSession) -> RedirectResponse:
    """Another organization's key is not found (404), as in the API."""
    key = await keys.revoke(session, viewer.principal, key_id)
    owner = (await users.emails(session, viewer.principal, {key.user_id})).get(key.user_id, "its owner")
    said = f"Revoked {key.key_name} of {owner}: it no longer works"
    return RedirectResponse(f"/organization/api-keys?revoked={quote(said)}", status_code=303)

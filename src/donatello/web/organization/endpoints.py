"""The organization's settings page for its admins: who it is (name, the e-mail domains people can be
created at, whether an Entra tenant signs in to it) and its MFA rule — shown to the admin with whether
their own sign-in met it, and changed through the API's ``organizations.service.set_mfa_rule`` (audited)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from donatello.core.errors import ValidationFailed
from donatello.dependencies import DbSession
from donatello.organizations import service as organizations
from donatello.organizations.schemas import MfaRule
from donatello.tenancy import Permission
from donatello.users import service as users
from donatello.web.dependencies import Viewer, WebRoute, page, requiring

router = APIRouter(route_class=WebRoute, include_in_schema=False)

Reader = Annotated[Viewer, Depends(requiring(Permission.ORGANIZATION_SETTINGS))]
Changer = Annotated[Viewer, Depends(requiring(Permission.ORGANIZATION_SETTINGS, changes_state=True))]


@router.get("/organization", response_class=HTMLResponse)
async def organization(
    request: Request, viewer: Reader, session: DbSession, done: Annotated[str, Query(max_length=200)] = ""
) -> HTMLResponse:
    org = await organizations.get(session, viewer.principal, viewer.principal.organization_id)
    me = await users.me(session, viewer.principal)
    return page(request, "organization.html", viewer=viewer, org=org, mfa=me.mfa, done=done)


@router.post("/organization/mfa", response_model=None)
async def change_mfa_rule(
    viewer: Changer,
    session: DbSession,
    rule: Annotated[str, Form(max_length=40)],
    contexts: Annotated[str, Form(max_length=300)] = "",
) -> RedirectResponse:
    listed = [context.strip() for context in contexts.split(",") if context.strip()]
    try:
        wanted = MfaRule(rule=rule, contexts=listed if rule == "authentication-context" else [])
    except ValidationError:
        raise ValidationFailed(
            "Choose a rule; for authentication contexts list them as c1, c2 … (at least one).",
            field="contexts",
        ) from None
    await organizations.set_mfa_rule(session, viewer.principal, viewer.principal.organization_id, wanted)
    return RedirectResponse(f"/organization?done={quote('Saved the MFA rule')}", status_code=303)

"""The organization's settings page for its admins: who it is (name, the e-mail domains people can be
created at, whether an Entra tenant signs in to it) and its MFA rule — shown to the admin with whether
their own sign-in met it, and changed through the API's ``organizations.service.set_mfa_rule`` (audited)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from donatello.core.errors import DomainError
from donatello.dependencies import DbSession
from donatello.organizations import service as organizations
from donatello.organizations.schemas import MfaRule
from donatello.tenancy import Action
from donatello.users import service as users
from donatello.web.dependencies import Viewer, WebRoute, page, requiring
from donatello.web.forms import FormState

router = APIRouter(route_class=WebRoute, include_in_schema=False)

Reader = Annotated[Viewer, Depends(requiring(Action.CHANGE_ORGANIZATION_SETTINGS))]
Changer = Annotated[Viewer, Depends(requiring(Action.CHANGE_ORGANIZATION_SETTINGS, changes_state=True))]


@router.get("/organization", response_class=HTMLResponse)
async def organization(
    request: Request, viewer: Reader, session: DbSession, done: Annotated[str, Query(max_length=200)] = ""
) -> HTMLResponse:
    return await _page(request, viewer, session, done=done)


async def _page(
    request: Request, viewer: Viewer, session: DbSession, *, done: str = "", form: FormState | None = None
) -> HTMLResponse:
    org = await organizations.get(session, viewer.principal, viewer.principal.organization_id)
    me = await users.me(session, viewer.principal)
    form = form or FormState()
    return page(
        request,
        "organization.html",
        status=form.status,
        form=form,
        viewer=viewer,
        org=org,
        mfa=me.mfa,
        done=done,
    )


HINTS = {
    "rule": "Choose one of the three rules.",
    "contexts": "List the authentication contexts as c1, c2 … (at least one for this rule).",
}


@router.post("/organization/mfa", response_model=None)
async def change_mfa_rule(
    request: Request,
    viewer: Changer,
    session: DbSession,
    rule: Annotated[str, Form(max_length=40)] = "",
    contexts: Annotated[str, Form(max_length=300)] = "",
) -> HTMLResponse | RedirectResponse:
    listed = [context.strip() for context in contexts.split(",") if context.strip()]
    form = FormState("mfa", {"rule": rule, "contexts": contexts})
    try:
        wanted = MfaRule(rule=rule, contexts=listed if rule == "authentication-context" else [])
        async with session.begin_nested():
            await organizations.set_mfa_rule(
                session, viewer.principal, viewer.principal.organization_id, wanted
            )
    except (ValidationError, DomainError) as error:
        # the rule's own check (contexts for the authentication-context rule) names no field: contexts
        rejected = form.rejecting(error, fields={"settings.mfa": "contexts", "": "contexts"}, hints=HINTS)
        return await _page(request, viewer, session, form=rejected)
    return RedirectResponse(f"/organization?done={quote('Saved the MFA rule')}", status_code=303)

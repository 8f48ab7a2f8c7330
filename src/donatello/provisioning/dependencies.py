"""The provisioning caller (a token, never a user), the base URL resources are located under, and the
raw SCIM request body (``application/scim+json`` or ``application/json``)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from scim2_models import InvalidSyntaxException, UnauthorizedException

from donatello.auth import throttle
from donatello.auth.dependencies import in_organization
from donatello.dependencies import DbSession, resources_of
from donatello.provisioning import service
from donatello.provisioning.resources import PREFIX
from donatello.provisioning.service import ScimCaller
from donatello.tenancy import Permission, Principal

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ProvisioningToken",
    description="The organization's SCIM provisioning token (`dsp_…`), from `donatello scim issue-token` "
    "or `POST /v1/provisioning/token`",
)


async def _caller(
    request: Request,
    session: DbSession,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> ScimCaller:
    if credentials is None:
        raise UnauthorizedException(detail="Send the provisioning token as 'Authorization: Bearer dsp_…'")
    resources = resources_of(request)
    address = request.client.host if request.client else None
    return await throttle.checked(
        session,
        resources.rate_limiter,
        resources.settings,
        address,
        throttle.Surface.SCIM,
        lambda: service.authenticate(session, credentials.credentials),
        refusal=UnauthorizedException,
    )


def _base(request: Request) -> str:
    settings = resources_of(request).settings
    root = settings.public_base_url or str(request.base_url)
    return root.rstrip("/") + PREFIX


async def _body(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw) if raw else None
    except (ValueError, UnicodeDecodeError):
        raise InvalidSyntaxException(detail="The body is not JSON") from None


Caller = Annotated[ScimCaller, Depends(_caller)]
Base = Annotated[str, Depends(_base)]
Body = Annotated[Any, Depends(_body)]
#: A platform admin names the organization with ``organization_id`` (required for them).
CanIssueTokens = Annotated[Principal, Depends(in_organization(Permission.USERS_MANAGE))]

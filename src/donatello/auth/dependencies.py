"""Resolve the request's principal once: Bearer access token -> tenant set on the transaction -> user."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from donatello.auth.tokens import TokenSigner
from donatello.core.database import set_tenant
from donatello.core.errors import Forbidden, Unauthenticated
from donatello.dependencies import DbSession
from donatello.tenancy import Principal, Role
from donatello.users import service as users

_bearer = HTTPBearer(auto_error=False, description="An access token from sign-in (or `donatello token`)")


async def _principal(
    request: Request,
    session: DbSession,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None:
        raise Unauthenticated("Send an access token as 'Authorization: Bearer <token>'")
    signer: TokenSigner = request.app.state.token_signer
    claims = signer.verify(credentials.credentials)
    await set_tenant(session, claims.organization_id)
    return await users.principal_for(session, claims.user_id, claims.organization_id)


CurrentPrincipal = Annotated[Principal, Depends(_principal)]


def require_role(*roles: Role) -> Callable[[Principal], Coroutine[Any, Any, Principal]]:
    """A dependency that admits principals holding one of ``roles`` (super_admin always)."""

    async def check(principal: CurrentPrincipal) -> Principal:
        if not principal.has_role(*roles):
            raise Forbidden(
                f"This action needs one of the roles: {', '.join(role.value for role in roles)}",
                required_roles=[role.value for role in roles],
            )
        return principal

    return check

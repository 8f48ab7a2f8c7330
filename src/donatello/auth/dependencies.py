"""Resolve the request's principal once, whatever the caller presents as ``Authorization: Bearer``:

* one of our access tokens (EdDSA, from sign-in, refresh or ``donatello token``);
* an API key (``dnt_…``), acting as its owner with the key's scopes;
* a Microsoft Entra access token for this API (programmatic clients), for an existing user.

The transaction is narrowed to the principal's organization (platform-wide for ``super_admin``) before
anything else is read.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from donatello.api_keys import service as api_keys
from donatello.auth import mfa, throttle
from donatello.auth.entra import EntraVerifier
from donatello.auth.errors import ApiKeyNotAllowed, InvalidEntraToken
from donatello.auth.tokens import TokenSigner
from donatello.core import request_context
from donatello.core.database import set_platform_scope, set_tenant
from donatello.core.errors import NotFound, Unauthenticated
from donatello.dependencies import DbSession, resources_of
from donatello.organizations import service as organizations
from donatello.tenancy import Action, Permission, Principal
from donatello.tenancy.actions import policy_of, refusal
from donatello.users import service as users

_bearer = HTTPBearer(
    auto_error=False,
    description="An access token from sign-in (or `donatello token`), an API key (`dnt_…`) or an Entra "
    "access token for this API",
)


async def _principal(
    request: Request,
    session: DbSession,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None:
        raise Unauthenticated("Send an access token as 'Authorization: Bearer <token>'")
    token = credentials.credentials
    is_key = token.startswith(api_keys.PREFIX)
    resources = resources_of(request)
    principal = await throttle.checked(
        session,
        resources.rate_limiter,
        resources.settings,
        request.client.host if request.client else None,
        throttle.Surface.API_KEY if is_key else throttle.Surface.BEARER,
        lambda: _authenticated(request, session, token, is_key),
        refusal=Unauthenticated,
    )
    if principal.is_platform_admin:
        await set_platform_scope(session)
    request_context.identify(principal.organization_id, principal.user_id)
    return principal


async def _authenticated(request: Request, session: DbSession, token: str, is_key: bool) -> Principal:
    if is_key:
        return await api_keys.authenticate(session, token)
    if (signer := _signer(request)).is_ours(token):
        claims = signer.verify(token)
        await set_tenant(session, claims.organization_id)
        return await users.principal_for(
            session, claims.user_id, claims.organization_id, live_session=claims.session_id
        )
    return await _entra_principal(request, session, token)


def _signer(request: Request) -> TokenSigner:
    signer: TokenSigner = resources_of(request).token_signer
    return signer


async def _entra_principal(request: Request, session: DbSession, token: str) -> Principal:
    verifier: EntraVerifier | None = resources_of(request).entra_verifier
    if verifier is None:
        raise Unauthenticated("The access token is not valid")
    identity = await verifier.access_token(token)
    await set_platform_scope(session)
    org = await organizations.active_for_tenant(session, identity.tenant_id)
    if org is None:
        raise InvalidEntraToken("The token's tenant is not a customer of this service")
    await set_tenant(session, org.id)
    return await users.principal_for_entra_user(session, org.id, identity.object_id)


class Require:
    """The one authorization dependency: admits a principal allowed to take an action.

    Every route that needs a caller declares one: ``require(Action.X)`` (the map in
    ``tenancy/actions.py``, which the web's ``requiring`` reads too), ``require(Permission.X, …)`` (any
    one of them), or ``SignedIn`` for actions on oneself that every signed-in user may take. The OpenAPI
    document lists the permissions per operation (``x-permissions``) and the permission walk in the tests
    reads them from there. An action that needs MFA (generating) also checks the MFA rule.
    """

    def __init__(self, *needs: Action | Permission, api_keys: bool = True) -> None:
        self.policy = policy_of(*needs)
        self.permissions = self.policy.permissions
        #: False: a person's own sign-ins and settings, refused to API keys (``x-api-keys: false``).
        self.api_keys = api_keys

    async def __call__(self, principal: Annotated[Principal, Depends(_principal)]) -> Principal:
        if not self.api_keys and principal.api_key_id is not None:
            raise ApiKeyNotAllowed()
        if missing := self.policy.missing(principal):
            raise refusal(missing)
        if self.policy.mfa:
            mfa.ensure_may_generate(principal)
        return principal


def require(need: Action | Permission, *alternatives: Permission) -> Require:
    """A dependency admitting principals allowed to take the action ``need`` (or holding the permission
    ``need`` or one of ``alternatives``)."""
    return Require(need, *alternatives)


SignedIn = Annotated[Principal, Depends(Require())]
"""Every signed-in user (any role, any API key): actions on oneself such as reading one's profile."""

SignedInPerson = Annotated[Principal, Depends(Require(api_keys=False))]
"""Every signed-in user, with the access token of a sign-in: one's own sessions (listing, signing out,
signing out everywhere) and preferences. An API key is refused (403 ``api-key-not-allowed``) whatever its
scopes: a key leaked from a script must not end its owner's browser sessions or change their settings."""


OrganizationChoice = Annotated[
    uuid.UUID | None,
    Query(
        description="Platform admins only: act on this organization instead of your own. Anyone else may "
        "only name their own organization (another one is 404)."
    ),
]


def in_organization(
    need: Action | Permission, *alternatives: Permission
) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """``require(need, *alternatives)``, acting on the organization the ``organization_id`` query
    parameter names — the one documented way for a platform admin to act on another organization.

    Without the parameter (or naming one's own organization) the principal acts as usual. A platform admin
    naming another organization gets a principal scoped to it (``Principal.acting_in``: queries filtered to
    it, new rows created in it, row-level security narrowed to it); anyone else naming another
    organization, or a platform admin naming one that does not exist, gets 404.
    """
    allowed = Require(need, *alternatives)

    async def acting(
        session: DbSession,
        organization_id: OrganizationChoice = None,
        principal: Principal = Depends(allowed),  # a default, not Annotated: it names a local
    ) -> Principal:
        if organization_id is None or organization_id == principal.organization_id:
            return principal
        if not principal.is_platform_admin:
            raise NotFound("organization", organization_id)
        chosen = await organizations.get(session, principal, organization_id)
        await set_tenant(session, chosen.id)
        request_context.identify(chosen.id, principal.user_id)
        return principal.acting_in(chosen.id)

    return acting


CanGenerate = Annotated[Principal, Depends(require(Action.GENERATE))]
"""May request a generation: the role grants it and MFA is on, or the 7-day grace period still runs."""

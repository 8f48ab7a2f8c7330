"""Sign-in with Microsoft Entra ID: callback -> validated id_token -> organization -> user -> session."""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from donatello import audit
from donatello.auth.entra import EntraIdentity, EntraVerifier
from donatello.auth.errors import SignInFailed, SignInRefused
from donatello.auth.tokens import TokenSigner
from donatello.core.database import set_platform_scope, set_tenant
from donatello.core.errors import Unauthenticated
from donatello.models import Organization, User
from donatello.organizations import service as organizations
from donatello.provisioning import service as provisioning
from donatello.sessions import browser
from donatello.sessions import service as sessions
from donatello.sessions.schemas import TokenPair
from donatello.users import service as users

FLOW_AUDIENCE = "donatello-sign-in-flow"
FLOW_LIFETIME = timedelta(minutes=10)


def sent_nonce(flow: dict[str, Any]) -> str | None:
    """msal keeps the nonce in the flow but sends (and Entra echoes) its SHA-256 hex digest."""
    nonce = flow.get("nonce")
    return hashlib.sha256(str(nonce).encode("ascii")).hexdigest() if nonce else None


async def complete(
    session: AsyncSession,
    verifier: EntraVerifier,
    signer: TokenSigner,
    id_token: str,
    *,
    nonce: str | None,
    device: dict[str, Any],
    refresh_lifetime: timedelta,
) -> TokenPair:
    """Validate the id_token, find the tenant's organization, provision the user, open a session. A
    refusal is audited (the organization's log when known, the platform's otherwise)."""
    user, org, identity, created = await _verified_user(session, verifier, id_token, nonce=nonce)
    row, pair = await sessions.start(
        session,
        signer,
        user.id,
        org.id,
        device=device,
        lifetime=refresh_lifetime,
        mfa_satisfied=mfa_satisfied(org, identity),
    )
    await _signed_in(session, row.id, user, org, identity, created, kind="tokens")
    return pair


async def complete_browser(
    session: AsyncSession,
    verifier: EntraVerifier,
    id_token: str,
    *,
    nonce: str | None,
    device: dict[str, Any],
    lifetimes: browser.Lifetimes,
) -> browser.BrowserSession:
    """The same sign-in as ``complete``, ending in a browser session (a cookie) instead of tokens."""
    user, org, identity, created = await _verified_user(session, verifier, id_token, nonce=nonce)
    opened = await browser.open_session(
        session,
        user.id,
        org.id,
        device=device,
        lifetimes=lifetimes,
        method="entra_id",
        mfa_satisfied=mfa_satisfied(org, identity),
    )
    await _signed_in(session, opened.session_id, user, org, identity, created, kind=browser.KIND)
    return opened


def mfa_satisfied(org: Organization, identity: EntraIdentity) -> bool:
    """Whether this sign-in met the organization's MFA rule."""
    return organizations.mfa_rule(org).satisfied_by(identity.mfa, identity.acrs)


async def _verified_user(
    session: AsyncSession, verifier: EntraVerifier, id_token: str, *, nonce: str | None
) -> tuple[User, Organization, EntraIdentity, bool]:
    identity: EntraIdentity | None = None
    org: Organization | None = None
    try:
        identity = await verifier.id_token(id_token, nonce=nonce)
        org = await _organization(session, identity)
        mapping = organizations.entra_mapping(org)
        # Groups pushed over SCIM count like the token's own roles and groups: one mapping, both sources.
        provisioned = tuple(
            await provisioning.group_keys(session, org.id, identity.object_id, identity.email)
        )
        token_groups = identity.groups
        groups = None if token_groups is None and not provisioned else (*(token_groups or ()), *provisioned)
        user, created = await users.provision(
            session,
            org,
            oid=identity.object_id,
            email=identity.email,
            name=identity.name,
            role=organizations.mapped_role(mapping, (*identity.roles, *provisioned)),
            department_code=organizations.mapped_department(mapping, groups),
            mfa=mfa_satisfied(org, identity),
        )
        return user, org, identity, created
    except Unauthenticated as refusal:
        if org is None:
            await set_platform_scope(session)
        await audit.record_event(
            session,
            "auth.sign_in_failed",
            action="sign_in",
            resource=("user", identity.object_id if identity else None),
            organization_id=org.id if org else None,
            actor=audit.Actor(None, identity.email if identity else None),
            status="failure",
            error=refusal.detail,
            details={
                "reason": refusal.type,
                "entra_tenant": identity.tenant_id if identity else None,
            },
        )
        raise SignInRefused(refusal) from refusal


async def _signed_in(
    session: AsyncSession,
    session_id: uuid.UUID,
    user: User,
    org: Organization,
    identity: EntraIdentity,
    created: bool,
    *,
    kind: str,
) -> None:
    await audit.record_event(
        session,
        "auth.signed_in",
        action="sign_in",
        resource=("user_session", session_id),
        organization_id=org.id,
        actor=audit.Actor(user.id, user.email),
        details={
            "method": "entra_id",
            "session_kind": kind,
            "first_sign_in": created,
            "mfa": mfa_satisfied(org, identity),
            "mfa_rule": organizations.mfa_rule(org).rule,
            "groups_readable": identity.groups is not None,
        },
    )


async def _organization(session: AsyncSession, identity: EntraIdentity) -> Organization:
    await set_platform_scope(session)  # the tenant is what we are looking for
    org = await organizations.active_for_tenant(session, identity.tenant_id)
    if org is None:
        raise SignInFailed("Your organization does not use DonatelloAI, or its access is suspended")
    await set_tenant(session, org.id)
    return org

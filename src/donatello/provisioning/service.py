"""Provisioning tokens: the per-organization secret an identity provider presents on ``/scim/v2``.

Shown once, stored as a SHA-256 hash; issuing one revokes the organization's previous tokens (rotation);
issuing and every use of a token's powers are audited with the token as the actor.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass

from scim2_models import UnauthorizedException
from sqlalchemy.ext.asyncio import AsyncSession

from donatello import audit
from donatello.audit import Actor
from donatello.core.clock import utcnow
from donatello.core.database import set_platform_scope, set_tenant
from donatello.core.errors import NotFound
from donatello.models import Organization, ProvisioningToken
from donatello.provisioning import repository
from donatello.tenancy import Action, Principal, ensure
from donatello.users.errors import OrganizationRequired

PREFIX = "dsp_"
VISIBLE = 12


@dataclass(frozen=True)
class ScimCaller:
    """The identity provider behind a request: one token of one organization."""

    token_id: uuid.UUID
    organization_id: uuid.UUID
    token_prefix: str

    @property
    def actor(self) -> Actor:
        return Actor(
            None,
            None,
            {
                "actor": "provisioning_token",
                "token_id": str(self.token_id),
                "token_prefix": self.token_prefix,
            },
        )


@dataclass(frozen=True)
class IssuedToken:
    token: str
    token_id: uuid.UUID
    organization_id: uuid.UUID
    prefix: str


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def organization(session: AsyncSession, id_or_domain: str) -> Organization:
    """An active organization by id or domain (operators name it either way)."""
    await set_platform_scope(session)
    org = await repository.organization(session, id_or_domain)
    if org is None:
        raise NotFound("organization", id_or_domain)
    return org


async def issue_for(session: AsyncSession, principal: Principal) -> IssuedToken:
    """An org admin issues their organization's token; a platform administrator names the organization
    (``organization_id``, checked by ``in_organization``: another organization, for anyone else, is 404)."""
    ensure(principal, Action.MANAGE_PEOPLE)
    if principal.platform_wide:
        raise OrganizationRequired()
    return await issue(session, principal.organization_id, Actor.of(principal))


async def issue(session: AsyncSession, organization_id: uuid.UUID, issuer: Actor) -> IssuedToken:
    """A new provisioning token for the organization; its previous tokens stop working at once."""
    now = utcnow()
    revoked = await repository.revoke_tokens(session, organization_id, now)
    secret = PREFIX + secrets.token_urlsafe(32)
    row = ProvisioningToken(
        organization_id=organization_id,
        token_hash=_hash(secret),
        token_prefix=secret[:VISIBLE],
        issued_by=issuer.user_id,
    )
    await repository.add(session, row)
    await audit.record_event(
        session,
        "provisioning_token.issued",
        action="issued",
        resource=("provisioning_token", row.id),
        organization_id=organization_id,
        actor=issuer,
        details={"prefix": row.token_prefix, "tokens_revoked": revoked},
    )
    return IssuedToken(secret, row.id, organization_id, row.token_prefix)


async def authenticate(session: AsyncSession, secret: str) -> ScimCaller:
    """The organization a presented token speaks for; the transaction is narrowed to it. Every failure
    is the same 401."""
    invalid = UnauthorizedException(detail="The provisioning token is not valid")
    if not secret.startswith(PREFIX):
        raise invalid
    await set_platform_scope(session)  # the token alone says which tenant it belongs to
    presented = _hash(secret)
    row = await repository.token_by_hash(session, presented)
    if row is None or row.revoked_at is not None or not hmac.compare_digest(row.token_hash, presented):
        raise invalid
    await set_tenant(session, row.organization_id)
    if await repository.organization(session, str(row.organization_id)) is None:
        raise invalid  # a suspended organization provisions nothing
    await repository.touch_token(session, row.id, utcnow())
    return ScimCaller(row.id, row.organization_id, row.token_prefix)


async def group_keys(
    session: AsyncSession, organization_id: uuid.UUID, oid: str, email: str | None
) -> list[str]:
    """Object ids and names of the provisioned groups of the account a sign-in belongs to, for the
    organization's role and department mapping."""
    return await repository.group_keys_of_identity(session, organization_id, oid, email)

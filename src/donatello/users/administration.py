"""Accounts managed by people and identity providers rather than by sign-in: created ahead of the first
sign-in, deactivated with immediate effect, reactivated. The admin API and SCIM provisioning share these
functions, so a deactivation means the same thing whoever asks for it — and the same two rules hold for
both: nobody reaches an account ranked above their own (a provisioning token acts with an org admin's
rank, so a platform administrator is beyond every tenant credential), and people are created only at
the organization's own e-mail domains."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from donatello import audit
from donatello.audit import Actor
from donatello.core.clock import utcnow
from donatello.core.errors import Conflict
from donatello.models import User
from donatello.tenancy import RANK, TENANT_CEILING, Role
from donatello.users import repository
from donatello.users.errors import EmailDomainNotOwned, RoleAboveYourOwn


def reaches(actor: Role, target: str) -> bool:
    """Not above your own: ``actor`` may read, change, deactivate or delete an account of role
    ``target`` only when it ranks no higher than ``actor``. An account beyond reach is, to the actor,
    not there at all (its repositories filter it out: 404)."""
    return RANK[Role(target)] <= RANK[actor]


async def ensure_may_grant(
    session: AsyncSession, actor: Role, role: Role, organization_id: uuid.UUID
) -> None:
    """Grant only roles at or below your own; a platform role only inside the platform's organization
    (never to a member of a tenant, whose directory and admins could then act for the platform)."""
    if not reaches(actor, role.value):
        raise RoleAboveYourOwn(required_roles=[Role.SUPER_ADMIN.value])
    if RANK[role] > RANK[TENANT_CEILING] and not await repository.is_platform(session, organization_id):
        raise RoleAboveYourOwn(
            "A platform role is held only in the platform's organization, never in a tenant",
            required_roles=[Role.SUPER_ADMIN.value],
        )


def domain_of(email: str) -> str:
    return email.rpartition("@")[2].strip().lower()


async def ensure_owned_domain(session: AsyncSession, organization_id: uuid.UUID, email: str) -> None:
    """People are created (and renamed) only at the organization's own e-mail domains. The refusal
    names the domain and nothing else: whether another tenant owns it, or uses the address, is not
    this tenant's to learn. A SCIM ``userName`` that is not an address at all (no ``@``) names no
    domain: it can never be a sign-in e-mail, so such an account signs in only by its object id."""
    if "@" not in email:
        return
    domain = domain_of(email)
    if domain not in await repository.email_domains(session, organization_id):
        raise EmailDomainNotOwned(domain)


async def create(
    session: AsyncSession,
    actor: Actor,
    organization_id: uuid.UUID,
    *,
    email: str,
    role: str,
    department_id: uuid.UUID | None,
    display_name: str | None,
    external_id: str | None = None,
    active: bool = True,
    scim_profile: dict[str, Any] | None = None,
    cost_center: str | None = None,
) -> User:
    """A new account before its first sign-in: the sign-in with this e-mail (or Entra object id
    ``external_id``) claims it instead of creating another. The e-mail is at one of the organization's
    domains and unique among its live accounts."""
    await ensure_owned_domain(session, organization_id, email)
    user = User(
        organization_id=organization_id,
        email=email,
        azure_ad_id=external_id,
        display_name=display_name,
        role=role,
        department_id=department_id,
        is_active=active,
        scim_profile=scim_profile or {},
        cost_center=cost_center,
    )
    if not await repository.add(session, user):
        raise Conflict("Another account already uses this e-mail address or Entra object id", field="email")
    await record(session, user, "user.created", actor, {"role": role, "is_active": active})
    return user


async def set_active(session: AsyncSession, actor: Actor, user: User, active: bool) -> dict[str, int]:
    """Deactivate (at once, in this transaction: sessions and API keys revoked, owned webhooks disabled,
    sign-in refused) or reactivate (sign-in only: nothing revoked comes back). Generations already
    admitted are left to finish: their budget was held while the user was active. Returns what was cut."""
    if user.is_active == active:
        return {}
    user.is_active = active
    cut = {} if active else await repository.cut_access(session, user.id, utcnow())
    await repository.flush(session, user)
    event = "user.reactivated" if active else "user.deactivated"
    await record(
        session, user, event, actor, {"changes": {"is_active": {"from": not active, "to": active}}, **cut}
    )
    return cut


async def delete(session: AsyncSession, actor: Actor, user: User) -> None:
    """Provisioning's delete: deactivate with the same effects, then hide the account everywhere. The row
    stays for the ledger; the e-mail and Entra object id are free for a new account."""
    await set_active(session, actor, user, False)
    user.deleted_at = utcnow()
    await repository.flush(session, user)
    await record(session, user, "user.deleted", actor, {})


async def record(
    session: AsyncSession, user: User, event_type: str, actor: Actor | None, metadata: dict[str, Any]
) -> None:
    """Audit a change to ``user``; ``actor`` None means the user themself (sign-in)."""
    await audit.record_event(
        session,
        event_type,
        action=event_type.split(".")[1],
        resource=("user", user.id),
        organization_id=user.organization_id,
        actor=actor or Actor(user.id, user.email),
        details={**metadata, "target_user_id": str(user.id)},
    )

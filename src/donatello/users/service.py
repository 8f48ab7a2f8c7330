"""Users: principals, just-in-time provisioning from Entra ID, administration and own preferences."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from donatello import audit
from donatello.audit import Actor
from donatello.core.clock import utcnow
from donatello.core.errors import Conflict, NotFound, Unauthenticated, ValidationFailed
from donatello.core.pagination import Page, decode_cursor, page_of
from donatello.models import Organization, User
from donatello.organizations import service as organizations
from donatello.tenancy import TENANT_CEILING, Action, Principal, Role, ensure
from donatello.users import administration, repository
from donatello.users.errors import (
    CannotChangeOwnAccess,
    EmailDomainNotOwned,
    OrganizationRequired,
    RoleAboveYourOwn,
)
from donatello.users.schemas import (
    Me,
    MfaStatus,
    PreferenceRead,
    UserCreate,
    UserFilters,
    UserRead,
    UserUpdate,
)

MFA_GRACE_PERIOD = timedelta(days=7)


def _principal(user: Any, **extra: Any) -> Principal:
    """``user``: a row of ``repository._active_user`` (the principal's columns and the organization's
    time-zone setting)."""
    return Principal(
        user_id=user.id,
        organization_id=user.organization_id,
        department_id=user.department_id,
        role=Role(user.role),
        email=user.email,
        mfa_enabled=user.mfa_enabled,
        mfa_grace_period_expires_at=user.mfa_grace_period_expires_at,
        organization_timezone=user.organization_timezone,
        **extra,
    )


async def principal_for(
    session: AsyncSession,
    user_id: uuid.UUID,
    organization_id: uuid.UUID,
    *,
    live_session: uuid.UUID | None = None,
    **extra: Any,
) -> Principal:
    """The principal for a verified token; a deactivated user or organization can no longer act, nor can
    a token whose sign-in (``live_session``) was logged out, revoked or has expired."""
    found = await repository.active_user_in_active_organization(
        session, user_id, organization_id, (live_session, utcnow()) if live_session else None
    )
    if found is None:
        raise Unauthenticated("The account is not active")
    user, stands = found
    if not stands:
        raise Unauthenticated("The session has ended; sign in again")
    if live_session:
        return _principal(user, session_id=live_session, session_mfa=user.session_mfa, **extra)
    return _principal(user, **extra)


async def me(session: AsyncSession, principal: Principal) -> Me:
    """Who the credential belongs to, and which MFA rule applies and whether this sign-in met it."""
    rule = organizations.mfa_rule(await organizations.find(session, principal.organization_id))
    return Me(
        user_id=principal.user_id,
        organization_id=principal.organization_id,
        department_id=principal.department_id,
        role=principal.role,
        email=principal.email,
        mfa=MfaStatus(
            rule=rule.rule,
            contexts=rule.contexts,
            this_sign_in=principal.session_mfa,
            mfa_enabled=principal.mfa_enabled,
            grace_period_expires_at=principal.mfa_grace_period_expires_at,
            satisfied=principal.mfa_proved or principal.in_mfa_grace(utcnow()),
        ),
    )


async def local_sign_in_choices(session: AsyncSession, limit: int = 200) -> list[tuple[User, str]]:
    """Everyone who may sign in locally (the caller has checked that local sign-in is allowed)."""
    return await repository.active_users_of_active_organizations(session, limit)


async def active_user(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await repository.active_by_id(session, user_id)


async def principal_for_entra_user(session: AsyncSession, organization_id: uuid.UUID, oid: str) -> Principal:
    """The principal behind an Entra access token: an existing, active user of that organization."""
    user = await repository.by_azure_ad_id(session, organization_id, oid)
    if user is None:
        raise Unauthenticated("No account for this identity: sign in through /v1/auth/login first")
    await _ensure_bound_by_the_platform(session, user)
    return await principal_for(session, user.id, organization_id)


async def _ensure_bound_by_the_platform(session: AsyncSession, user: User) -> None:
    """A tenant's directory never speaks for a platform administrator: an Entra identity of a tenant is
    one its admins can reset, re-assign or provision, so a platform role is held through Entra only in
    the platform's own organization."""
    if not administration.reaches(TENANT_CEILING, user.role) and not await repository.is_platform(
        session, user.organization_id
    ):
        raise Unauthenticated(
            "A platform administrator signs in through the platform's organization, not a tenant's"
        )


async def provision(
    session: AsyncSession,
    org: Organization,
    *,
    oid: str,
    email: str | None,
    name: str | None,
    role: Role | None,
    department_code: str | None,
    mfa: bool,
) -> tuple[User, bool]:
    """Create the user on first sign-in (JIT) or refresh what Entra says about them; returns (user, created).

    ``role`` is what the organization's app-role mapping says (None: no mapping, keep the role managed
    here); a platform administrator is never demoted by a tenant's mapping. ``department_code`` None keeps
    the current department (no mapping matched, or the groups were not readable).
    """
    now = utcnow()
    department = (
        await repository.department_by_code(session, org.id, department_code) if department_code else None
    )
    user = await repository.by_azure_ad_id(session, org.id, oid)
    if user is None and email:
        user = await _claim(session, org, oid, email)
    if user is None:
        if not email:
            raise Unauthenticated("The identity has no e-mail address (preferred_username)")
        try:
            await administration.ensure_owned_domain(session, org.id, email)
        except EmailDomainNotOwned as refusal:
            raise Unauthenticated(refusal.detail, domain=refusal.extensions["domain"]) from None
        user = User(
            organization_id=org.id,
            azure_ad_id=oid,
            email=email,
            display_name=name,
            role=(role or Role.STANDARD_USER).value,
            department_id=department.id if department else None,
            mfa_enabled=mfa,
            created_at=now,
            mfa_grace_period_expires_at=now + MFA_GRACE_PERIOD,
            last_login_at=now,
        )
        if not await repository.add(session, user):
            raise Conflict("Another account already uses this e-mail address", field="email")
        await administration.record(
            session, user, "user.provisioned", None, {"role": user.role, "source": "entra"}
        )
        return user, True
    if not user.is_active:
        raise Unauthenticated("The account is deactivated")
    await _ensure_bound_by_the_platform(session, user)
    if user.last_login_at is None and user.mfa_grace_period_expires_at is None:
        # Created ahead (SCIM, the admin API): the grace period starts at the person's first sign-in.
        user.mfa_grace_period_expires_at = now + MFA_GRACE_PERIOD
    renamed = email if email and administration.domain_of(email) in await _domains(session, org) else None
    wanted: dict[str, Any] = {"email": renamed or user.email, "display_name": name or user.display_name}
    if role is not None and user.role != Role.SUPER_ADMIN:
        wanted["role"] = role.value
    if department is not None:
        wanted["department_id"] = department.id
    if mfa:
        wanted["mfa_enabled"] = True
    changes = {k: {"from": getattr(user, k), "to": v} for k, v in wanted.items() if getattr(user, k) != v}
    for key, change in changes.items():
        setattr(user, key, change["to"])
    user.last_login_at = now
    if not await repository.flush_unless_taken(session, user):
        raise Conflict("Another account already uses this e-mail address", field="email")
    if changes:
        event = "user.role_changed" if "role" in changes else "user.updated"
        await administration.record(session, user, event, None, {"changes": changes, "source": "entra"})
    return user, False


async def _domains(session: AsyncSession, org: Organization) -> set[str]:
    return await repository.email_domains(session, org.id)


async def _claim(session: AsyncSession, org: Organization, oid: str, email: str) -> User | None:
    """The first sign-in of a person whose account was created ahead (admin API or SCIM without an
    Entra object id) takes that account over: it gains the object id instead of a second account."""
    user = await repository.unclaimed_by_email(session, org.id, email, platform=org.is_platform)
    if user is None:
        return None
    if not user.is_active:
        raise Unauthenticated("The account is deactivated")
    user.azure_ad_id = oid
    if not await repository.flush_unless_taken(session, user):
        raise Conflict("Another account already uses this Entra identity", field="oid")
    await administration.record(session, user, "user.claimed", None, {"source": "entra"})
    return user


async def create(session: AsyncSession, principal: Principal, body: UserCreate) -> User:
    """An org admin adds a person before their first sign-in (e-mail, role, department). A platform
    administrator names the organization (``organization_id``, as on every operation that acts on one):
    never their own by default."""
    ensure(principal, Action.MANAGE_PEOPLE)
    if principal.platform_wide:
        raise OrganizationRequired()
    organization_id = principal.organization_id
    await administration.ensure_may_grant(session, principal.role, body.role, organization_id)
    if (
        body.department_id is not None
        and (await repository.department_in_scope(session, principal, body.department_id, organization_id))
        is None
    ):
        raise ValidationFailed("No such department in the organization", field="department_id")
    return await administration.create(
        session,
        Actor.of(principal),
        organization_id,
        email=body.email,
        role=body.role.value,
        department_id=body.department_id,
        display_name=body.display_name,
    )


def _read_scope(principal: Principal, filters: dict[str, Any]) -> dict[str, Any]:
    """A department manager sees only their own department's users."""
    if principal.reaches_every_department:
        return filters
    return {**filters, "department_id": principal.department_id or uuid.UUID(int=0)}


async def list_users(
    session: AsyncSession, principal: Principal, filters: UserFilters, cursor: str | None, limit: int
) -> Page[UserRead]:
    wanted = _read_scope(principal, filters.model_dump())
    if filters.department_id is not None and wanted["department_id"] != filters.department_id:
        return Page[UserRead](items=[])
    rows = await repository.page(
        session, principal, filters=wanted, after=decode_cursor(cursor, 2), limit=limit + 1
    )
    kept, next_cursor = page_of(rows, limit, key=lambda row: [row.email, row.id])
    items = [UserRead.model_validate(row) for row in kept]
    return Page[UserRead](items=items, next_cursor=next_cursor)


async def emails(
    session: AsyncSession, principal: Principal, user_ids: set[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """Who owns what, in words: each id's e-mail (ids outside the principal's organization are absent)."""
    return await repository.emails(session, principal, user_ids)


async def get(session: AsyncSession, principal: Principal, user_id: uuid.UUID) -> User:
    user = await repository.get(session, principal, user_id)
    if user is None or not principal.reaches_department(user.department_id):
        raise NotFound("user", user_id)
    return user


async def update(session: AsyncSession, principal: Principal, user_id: uuid.UUID, body: UserUpdate) -> User:
    """Change a user's role, department or active state; nobody raises their own role or reach, and
    nobody reaches an account ranked above their own (a platform administrator's is not found)."""
    ensure(principal, Action.MANAGE_PEOPLE)
    user = await get(session, principal, user_id)
    values = body.model_dump(exclude_unset=True)
    if user.id == principal.user_id and ({"role", "is_active"} & values.keys()):
        raise CannotChangeOwnAccess()
    if not administration.reaches(principal.role, user.role):
        raise RoleAboveYourOwn(required_roles=[Role.SUPER_ADMIN.value])
    if body.role is not None and body.role.value != user.role:
        await administration.ensure_may_grant(session, principal.role, body.role, user.organization_id)
    if body.department_id is not None:
        department = await repository.department_in_scope(
            session, principal, body.department_id, user.organization_id
        )
        if department is None:
            raise ValidationFailed("No such department in the user's organization", field="department_id")
    changes = {
        key: {"from": getattr(user, key), "to": value.value if isinstance(value, Role) else value}
        for key, value in values.items()
        if (value is not None or key == "department_id")
        and getattr(user, key) != (value.value if isinstance(value, Role) else value)
    }
    activation = changes.pop("is_active", None)
    if changes:
        for key, change in changes.items():
            setattr(user, key, change["to"])
        await repository.flush(session, user)
        event = "user.role_changed" if "role" in changes else "user.updated"
        await administration.record(session, user, event, Actor.of(principal), {"changes": changes})
    if activation is not None:
        # The same immediate effects as deprovisioning over SCIM: sessions, keys and webhooks cut here.
        await administration.set_active(session, Actor.of(principal), user, activation["to"])
    return user


async def preferences(session: AsyncSession, principal: Principal) -> list[PreferenceRead]:
    return [
        PreferenceRead.model_validate(row) for row in await repository.preferences(session, principal.user_id)
    ]


async def set_preference(session: AsyncSession, principal: Principal, key: str, value: Any) -> PreferenceRead:
    """Set one of the caller's own preferences (any JSON value)."""
    row = await repository.upsert_preference(
        session, principal.organization_id, principal.user_id, key, value
    )
    await audit.record_event(
        session,
        "user.preference_set",
        resource=("user_preference", key),
        organization_id=principal.organization_id,
        actor=principal,
        details={"key": key},
    )
    return PreferenceRead.model_validate(row)


async def delete_preference(session: AsyncSession, principal: Principal, key: str) -> None:
    row = await repository.preference(session, principal.user_id, key)
    if row is None:
        raise NotFound("preference", key)
    await repository.delete(session, row)
    await audit.record_event(
        session,
        "user.preference_deleted",
        resource=("user_preference", key),
        organization_id=principal.organization_id,
        actor=principal,
        details={"key": key},
    )

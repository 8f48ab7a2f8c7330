from __future__ import annotations

import uuid
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Boolean, bindparam, exists, func, null, or_, select, true, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.core.database import add_unless_taken
from donatello.models import ApiKey, Department, Organization, User, UserPreference, UserSession, Webhook
from donatello.tenancy import TENANT_ROLES, Principal, scope

LIVE = User.deleted_at.is_(None)


def _within_reach(stmt: Any, principal: Principal) -> Any:
    """A tenant's credential never sees an account ranked above an org admin (a platform
    administrator's, should one sit in the organization): to it, the account does not exist."""
    return stmt if principal.is_platform_admin else stmt.where(User.role.in_(TENANT_ROLES))


async def is_platform(session: AsyncSession, organization_id: uuid.UUID) -> bool:
    stmt = select(Organization.is_platform).where(Organization.id == organization_id)
    return bool((await session.execute(stmt)).scalar_one_or_none())


async def email_domains(session: AsyncSession, organization_id: uuid.UUID) -> set[str]:
    """The organization's primary domain and the others it owns (lower case)."""
    stmt = select(Organization.domain, Organization.email_domains).where(Organization.id == organization_id)
    row = (await session.execute(stmt)).one_or_none()
    if row is None:
        return set()
    return {row.domain.lower(), *(domain.lower() for domain in row.email_domains or ())}


async def active_user_in_active_organization(
    session: AsyncSession,
    user_id: uuid.UUID,
    organization_id: uuid.UUID,
    live_session: tuple[uuid.UUID, datetime] | None = None,
) -> tuple[Any, bool] | None:
    """What a principal needs of the user (a row with ``User``'s attribute names, not a loaded ``User``),
    and whether ``live_session`` (session id, now) still stands — one round trip, checked on every request
    that presents one of our access tokens. Plain columns: no ORM object, identity map or attribute
    state is built for a read that every request makes."""
    parameters: dict[str, Any] = {"user_id": user_id, "organization_id": organization_id}
    if live_session is not None:
        parameters.update(session_id=live_session[0], now=live_session[1])
    row = (await session.execute(_active_user(live_session is not None), parameters)).one_or_none()
    return (row, bool(row.session_stands)) if row else None


#: The user's columns a ``Principal`` is made of.
PRINCIPAL_COLUMNS = (
    User.id,
    User.organization_id,
    User.department_id,
    User.role,
    User.email,
    User.mfa_enabled,
    User.mfa_grace_period_expires_at,
)


@lru_cache(maxsize=2)
def _active_user(with_session: bool) -> Any:
    """Built once per shape (it runs on every request): constructing it cost more than running it."""
    live = (
        UserSession.id == bindparam("session_id", type_=UserSession.id.type),
        UserSession.user_id == User.id,
        UserSession.stands_at(bindparam("now", type_=UserSession.expires_at.type)),  # type: ignore[arg-type]
    )
    stands = exists().where(*live) if with_session else true()
    mfa = (
        select(UserSession.mfa_satisfied).where(*live).scalar_subquery()
        if with_session
        else null().cast(Boolean)
    )
    return (
        select(
            *PRINCIPAL_COLUMNS,
            Organization.settings["timezone"].astext.label("organization_timezone"),
            stands.label("session_stands"),
            mfa.label("session_mfa"),
        )
        .join(Organization, Organization.id == User.organization_id)
        .where(
            User.id == bindparam("user_id", type_=User.id.type),
            User.organization_id == bindparam("organization_id", type_=User.organization_id.type),
            User.is_active.is_(True),
            Organization.is_active.is_(True),
        )
    )


async def by_azure_ad_id(session: AsyncSession, organization_id: uuid.UUID, oid: str) -> User | None:
    stmt = select(User).where(User.organization_id == organization_id, User.azure_ad_id == oid, LIVE)
    return (await session.execute(stmt)).scalar_one_or_none()


async def unclaimed_by_email(
    session: AsyncSession, organization_id: uuid.UUID, email: str, *, platform: bool
) -> User | None:
    """A live account created ahead of its first sign-in (no Entra object id yet) with this e-mail.
    In a tenant never a platform administrator's: the tenant's directory decides who holds an address,
    so there an address never binds a platform role (``platform``: the platform's own organization,
    whose directory is the platform's)."""
    stmt = select(User).where(
        User.organization_id == organization_id,
        func.lower(User.email) == email.lower(),
        User.azure_ad_id.is_(None),
        LIVE,
    )
    if not platform:
        stmt = stmt.where(User.role.in_(TENANT_ROLES))
    return (await session.execute(stmt)).scalar_one_or_none()


async def cut_access(session: AsyncSession, user_id: uuid.UUID, now: datetime) -> dict[str, int]:
    """Revoke the user's live sessions and API keys and disable the webhooks they own; returns counts."""
    sessions = await session.execute(
        update(UserSession)
        .where(UserSession.user_id == user_id, UserSession.revoked.is_(False))
        .values(revoked=True, revoked_at=now, revoked_reason="deprovisioned")
        .execution_options(synchronize_session=False)
    )
    keys = await session.execute(
        update(ApiKey)
        .where(ApiKey.user_id == user_id, ApiKey.is_active.is_(True))
        .values(is_active=False, revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    hooks = await session.execute(
        update(Webhook)
        .where(Webhook.user_id == user_id, Webhook.is_active.is_(True))
        .values(is_active=False)
        .execution_options(synchronize_session=False)
    )
    return {
        "sessions_revoked": int(sessions.rowcount),  # type: ignore[attr-defined]
        "api_keys_revoked": int(keys.rowcount),  # type: ignore[attr-defined]
        "webhooks_disabled": int(hooks.rowcount),  # type: ignore[attr-defined]
    }


async def organization_exists(session: AsyncSession, organization_id: uuid.UUID) -> bool:
    stmt = select(Organization.id).where(Organization.id == organization_id)
    return (await session.execute(stmt)).first() is not None


async def department_by_code(
    session: AsyncSession, organization_id: uuid.UUID, code: str
) -> Department | None:
    stmt = select(Department).where(
        Department.organization_id == organization_id, Department.code == code, Department.is_active.is_(True)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def department_in_scope(
    session: AsyncSession, principal: Principal, department_id: uuid.UUID, organization_id: uuid.UUID
) -> Department | None:
    stmt = scope(select(Department), principal, Department).where(
        Department.id == department_id, Department.organization_id == organization_id
    )
    row: Department | None = (await session.execute(stmt)).scalar_one_or_none()
    return row


async def add(session: AsyncSession, user: User) -> bool:
    """Insert; False when the e-mail or Entra object id is already taken (the transaction stays usable)."""
    return await add_unless_taken(session, user)


async def get(session: AsyncSession, principal: Principal, user_id: uuid.UUID) -> User | None:
    stmt = _within_reach(scope(select(User), principal, User), principal).where(User.id == user_id, LIVE)
    user: User | None = (await session.execute(stmt)).scalar_one_or_none()
    return user


async def page(
    session: AsyncSession,
    principal: Principal,
    *,
    filters: dict[str, Any],
    after: list[Any] | None,
    limit: int,
) -> list[User]:
    stmt = _within_reach(scope(select(User), principal, User), principal)
    stmt = stmt.where(LIVE).order_by(User.email, User.id)
    for column in ("role", "department_id", "is_active"):
        if filters.get(column) is not None:
            stmt = stmt.where(getattr(User, column) == filters[column])
    if filters.get("email_contains"):
        stmt = stmt.where(User.email.contains(filters["email_contains"].lower(), autoescape=True))
    if filters.get("name_or_email_contains"):
        wanted = filters["name_or_email_contains"]
        stmt = stmt.where(
            or_(
                User.email.contains(wanted.lower(), autoescape=True),
                User.display_name.icontains(wanted, autoescape=True),
            )
        )
    if after is not None:
        stmt = stmt.where(tuple_(User.email, User.id) > tuple_(after[0], uuid.UUID(after[1])))
    return list((await session.execute(stmt.limit(limit))).scalars())


async def flush(session: AsyncSession, user: User) -> None:
    await session.flush()
    await session.refresh(user)


async def flush_unless_taken(session: AsyncSession, user: User) -> bool:
    """Write ``user``'s changes; False when its new e-mail or object id belongs to another live account
    of the organization."""
    return await add_unless_taken(session, user)


async def preferences(session: AsyncSession, user_id: uuid.UUID) -> list[UserPreference]:
    stmt = (
        select(UserPreference)
        .where(UserPreference.user_id == user_id)
        .order_by(UserPreference.preference_key)
    )
    return list((await session.execute(stmt)).scalars())


async def upsert_preference(
    session: AsyncSession, organization_id: uuid.UUID, user_id: uuid.UUID, key: str, value: Any
) -> UserPreference:
    stmt = (
        insert(UserPreference)
        .values(organization_id=organization_id, user_id=user_id, preference_key=key, preference_value=value)
        .on_conflict_do_update(
            index_elements=[UserPreference.user_id, UserPreference.preference_key],
            set_={"preference_value": value},
        )
        .returning(UserPreference)
        .execution_options(populate_existing=True)
    )
    return (await session.execute(stmt)).scalar_one()


async def preference(session: AsyncSession, user_id: uuid.UUID, key: str) -> UserPreference | None:
    stmt = select(UserPreference).where(
        UserPreference.user_id == user_id, UserPreference.preference_key == key
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def delete(session: AsyncSession, row: object) -> None:
    await session.delete(row)
    await session.flush()


async def active_users_of_active_organizations(session: AsyncSession, limit: int) -> list[tuple[User, str]]:
    """Active users with their organization's name, by organization then e-mail (platform scope)."""
    stmt = (
        select(User, Organization.name)
        .join(Organization, Organization.id == User.organization_id)
        .where(User.is_active.is_(True), Organization.is_active.is_(True))
        .order_by(Organization.name, User.email)
        .limit(limit)
    )
    return [(user, name) for user, name in (await session.execute(stmt)).all()]


async def active_by_id(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    stmt = (
        select(User)
        .join(Organization, Organization.id == User.organization_id)
        .where(User.id == user_id, User.is_active.is_(True), Organization.is_active.is_(True))
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def emails(
    session: AsyncSession, principal: Principal, user_ids: set[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """The e-mail of each of ``user_ids`` in the principal's scope (deleted accounts included: a key or
    a record outlives its owner's account)."""
    if not user_ids:
        return {}
    columns: Any = select(User.id, User.email)
    stmt = scope(columns, principal, User).where(User.id.in_(user_ids))
    return {row.id: row.email for row in await session.execute(stmt)}

"""Queries of the provisioning surface. Every one names the organization: the caller is a token, not a
principal, and row-level security (the transaction is set to the token's organization) stands behind."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.core.database import add_unless_taken
from donatello.models import Department, Organization, ProvisioningToken, ScimGroup, ScimGroupMember, User
from donatello.tenancy import TENANT_ROLES

LIVE = User.deleted_at.is_(None)
#: A provisioning token acts with an org admin's rank: an account ranked above it (a platform
#: administrator's) is not there for it — not listed, not found, not a member, not writable.
REACHABLE = User.role.in_(TENANT_ROLES)


# --- tokens ---------------------------------------------------------------------------------------------


async def token_by_hash(session: AsyncSession, token_hash: str) -> ProvisioningToken | None:
    stmt = select(ProvisioningToken).where(ProvisioningToken.token_hash == token_hash)
    return (await session.execute(stmt)).scalar_one_or_none()


async def revoke_tokens(session: AsyncSession, organization_id: uuid.UUID, now: datetime) -> int:
    result = await session.execute(
        update(ProvisioningToken)
        .where(ProvisioningToken.organization_id == organization_id, ProvisioningToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def touch_token(session: AsyncSession, token_id: uuid.UUID, now: datetime) -> None:
    await session.execute(
        update(ProvisioningToken).where(ProvisioningToken.id == token_id).values(last_used_at=now)
    )


async def organization(session: AsyncSession, id_or_domain: str) -> Organization | None:
    """An active organization by id or (lower-case) domain."""
    try:
        condition = Organization.id == uuid.UUID(id_or_domain)
    except ValueError:
        condition = Organization.domain == id_or_domain.strip().lower()
    stmt = select(Organization).where(condition, Organization.is_active.is_(True))
    return (await session.execute(stmt)).scalar_one_or_none()


async def add(session: AsyncSession, row: object) -> bool:
    return await add_unless_taken(session, row)


# --- users ----------------------------------------------------------------------------------------------


async def user(session: AsyncSession, organization_id: uuid.UUID, user_id: uuid.UUID) -> User | None:
    stmt = select(User).where(User.id == user_id, User.organization_id == organization_id, LIVE, REACHABLE)
    return (await session.execute(stmt)).scalar_one_or_none()


async def users(
    session: AsyncSession,
    organization_id: uuid.UUID,
    *,
    user_name: str | None = None,
    external_id: str | None = None,
    ids: list[uuid.UUID] | None = None,
) -> list[User]:
    """Live users of the organization, oldest first, narrowed when the filter allows it."""
    stmt = select(User).where(User.organization_id == organization_id, LIVE, REACHABLE)
    if user_name is not None:
        stmt = stmt.where(func.lower(User.email) == user_name.lower())
    if external_id is not None:
        stmt = stmt.where(User.azure_ad_id == external_id)
    if ids is not None:
        stmt = stmt.where(User.id.in_(ids))
    return list((await session.execute(stmt.order_by(User.created_at, User.id))).scalars())


async def department_code_or_name(
    session: AsyncSession, organization_id: uuid.UUID, value: str
) -> Department | None:
    """An active department whose code (preferred) or name is ``value``, ignoring case."""
    lowered = value.lower()
    stmt = (
        select(Department)
        .where(
            Department.organization_id == organization_id,
            Department.is_active.is_(True),
            (func.lower(Department.code) == lowered) | (func.lower(Department.name) == lowered),
        )
        .order_by((func.lower(Department.code) == lowered).desc(), Department.code)
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def flush(session: AsyncSession) -> None:
    await session.flush()


# --- groups ---------------------------------------------------------------------------------------------


async def group(session: AsyncSession, organization_id: uuid.UUID, group_id: uuid.UUID) -> ScimGroup | None:
    stmt = select(ScimGroup).where(ScimGroup.id == group_id, ScimGroup.organization_id == organization_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def groups(
    session: AsyncSession, organization_id: uuid.UUID, *, display_name: str | None = None
) -> list[ScimGroup]:
    stmt = select(ScimGroup).where(ScimGroup.organization_id == organization_id)
    if display_name is not None:
        stmt = stmt.where(func.lower(ScimGroup.display_name) == display_name.lower())
    return list((await session.execute(stmt.order_by(ScimGroup.created_at, ScimGroup.id))).scalars())


async def members(session: AsyncSession, group_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[uuid.UUID]]:
    """Member user ids per group (live users only)."""
    stmt = (
        select(ScimGroupMember.group_id, ScimGroupMember.user_id)
        .join(User, User.id == ScimGroupMember.user_id)
        .where(ScimGroupMember.group_id.in_(group_ids), LIVE, REACHABLE)
        .order_by(ScimGroupMember.created_at, ScimGroupMember.user_id)
    )
    found: dict[uuid.UUID, list[uuid.UUID]] = {group_id: [] for group_id in group_ids}
    for group_id, user_id in (await session.execute(stmt)).all():
        found[group_id].append(user_id)
    return found


async def groups_of(session: AsyncSession, user_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[ScimGroup]]:
    stmt = (
        select(ScimGroupMember.user_id, ScimGroup)
        .join(ScimGroup, ScimGroup.id == ScimGroupMember.group_id)
        .where(ScimGroupMember.user_id.in_(user_ids))
        .order_by(ScimGroup.display_name, ScimGroup.id)
    )
    found: dict[uuid.UUID, list[ScimGroup]] = {user_id: [] for user_id in user_ids}
    for user_id, row in (await session.execute(stmt)).all():
        found[user_id].append(row)
    return found


async def group_keys_of_identity(
    session: AsyncSession, organization_id: uuid.UUID, oid: str, email: str | None
) -> list[str]:
    """The object ids and display names of the provisioned groups of the live account that a sign-in
    with ``oid`` (or, before its first sign-in, ``email``) belongs to."""
    identity = User.azure_ad_id == oid
    if email:
        identity = identity | ((func.lower(User.email) == email.lower()) & User.azure_ad_id.is_(None))
    stmt = (
        select(ScimGroup.external_id, ScimGroup.display_name)
        .join(ScimGroupMember, ScimGroupMember.group_id == ScimGroup.id)
        .join(User, User.id == ScimGroupMember.user_id)
        .where(User.organization_id == organization_id, LIVE, identity)
    )
    keys: list[str] = []
    for external_id, display_name in (await session.execute(stmt)).all():
        keys.extend(key for key in (external_id, display_name) if key)
    return keys


async def set_members(
    session: AsyncSession, organization_id: uuid.UUID, group_id: uuid.UUID, wanted: set[uuid.UUID]
) -> tuple[set[uuid.UUID], set[uuid.UUID]]:
    """Make the group's membership exactly ``wanted``; returns (added, removed) user ids."""
    current = set((await members(session, [group_id]))[group_id])
    added, removed = wanted - current, current - wanted
    if removed:
        await session.execute(
            delete(ScimGroupMember).where(
                ScimGroupMember.group_id == group_id, ScimGroupMember.user_id.in_(removed)
            )
        )
    session.add_all(
        ScimGroupMember(organization_id=organization_id, group_id=group_id, user_id=user_id)
        for user_id in added
    )
    await session.flush()
    return added, removed


async def delete_group(session: AsyncSession, row: ScimGroup) -> None:
    await session.delete(row)
    await session.flush()

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, literal, or_, select, text, tuple_
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import String

from donatello.core.database import add_unless_taken
from donatello.models import Organization
from donatello.tenancy import Principal


async def by_tenant_id(session: AsyncSession, azure_tenant_id: str) -> Organization | None:
    stmt = select(Organization).where(Organization.azure_tenant_id == azure_tenant_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def by_id(session: AsyncSession, organization_id: uuid.UUID) -> Organization | None:
    return await session.get(Organization, organization_id)


async def get(session: AsyncSession, principal: Principal, organization_id: uuid.UUID) -> Organization | None:
    stmt = select(Organization).where(Organization.id == organization_id)
    if not principal.platform_wide:
        stmt = stmt.where(Organization.id == principal.organization_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def page(
    session: AsyncSession, *, is_active: bool | None, after: list[Any] | None, limit: int
) -> list[Organization]:
    stmt = select(Organization).order_by(Organization.name, Organization.id)
    if is_active is not None:
        stmt = stmt.where(Organization.is_active.is_(is_active))
    if after is not None:
        stmt = stmt.where(tuple_(Organization.name, Organization.id) > tuple_(after[0], uuid.UUID(after[1])))
    return list((await session.execute(stmt.limit(limit))).scalars())


async def save(session: AsyncSession, organization: Organization) -> bool:
    """Insert or flush; False when the domain or Entra tenant id is already taken."""
    return await add_unless_taken(session, organization)


async def lock_domains(session: AsyncSession) -> None:
    """Serialise changes to who owns which e-mail domain (until the transaction ends)."""
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext('organizations.email_domains'))"))


async def domains_taken(session: AsyncSession, domains: list[str], but: uuid.UUID | None) -> list[str]:
    """Which of ``domains`` an active organization other than ``but`` already owns (platform scope)."""
    wanted = literal(domains, ARRAY(String))
    stmt = select(Organization.domain, Organization.email_domains).where(
        Organization.is_active.is_(True),
        or_(Organization.domain == func.any(wanted), Organization.email_domains.op("&&")(wanted)),
    )
    if but is not None:
        stmt = stmt.where(Organization.id != but)
    owned = {domain for row in (await session.execute(stmt)).all() for domain in (row[0], *row[1])}
    return sorted(owned & set(domains))

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.models import Organization, User


async def active_user_in_active_organization(
    session: AsyncSession, user_id: uuid.UUID, organization_id: uuid.UUID
) -> User | None:
    stmt = (
        select(User)
        .join(Organization, Organization.id == User.organization_id)
        .where(
            User.id == user_id,
            User.organization_id == organization_id,
            User.is_active.is_(True),
            Organization.is_active.is_(True),
        )
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def by_email(session: AsyncSession, email: str) -> User | None:
    return (await session.execute(select(User).where(User.email == email.lower()))).scalar_one_or_none()

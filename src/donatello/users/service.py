"""Users as principals."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from donatello.core.errors import Unauthenticated
from donatello.tenancy import Principal, Role
from donatello.users import repository


async def principal_for(session: AsyncSession, user_id: uuid.UUID, organization_id: uuid.UUID) -> Principal:
    """The principal for a verified token; a deactivated user or organization can no longer act."""
    user = await repository.active_user_in_active_organization(session, user_id, organization_id)
    if user is None:
        raise Unauthenticated("The account is not active")
    return Principal(
        user_id=user.id,
        organization_id=user.organization_id,
        department_id=user.department_id,
        role=Role(user.role),
        email=user.email,
    )

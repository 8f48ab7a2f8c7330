from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.core.database import add_unless_taken
from donatello.models import Department
from donatello.tenancy import Principal, scope, scoped_get


async def get(session: AsyncSession, principal: Principal, department_id: uuid.UUID) -> Department:
    return await scoped_get(session, principal, Department, department_id)


async def page(
    session: AsyncSession, principal: Principal, *, after: list[Any] | None, limit: int
) -> list[Department]:
    stmt = scope(select(Department), principal, Department).order_by(Department.code, Department.id)
    if after is not None:
        stmt = stmt.where(tuple_(Department.code, Department.id) > tuple_(after[0], uuid.UUID(after[1])))
    return list((await session.execute(stmt.limit(limit))).scalars())


async def add(session: AsyncSession, department: Department) -> bool:
    """Insert; False when the organization already uses the code (the transaction stays usable)."""
    return await add_unless_taken(session, department)


async def flush(session: AsyncSession, department: Department) -> None:
    await session.flush()
    await session.refresh(department)

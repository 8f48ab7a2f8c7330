"""The budget increase requests' reads: a page of them, newest first, who asked or decided, how many wait
(``budgets.increase_requests`` decides who may see which)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.models import BudgetIncreaseRequest, User
from donatello.tenancy import Principal
from donatello.tenancy.scope import scope


async def newest_first(
    session: AsyncSession,
    principal: Principal,
    *,
    department_id: uuid.UUID | None = None,
    requested_by: uuid.UUID | None = None,
    status: str | None = None,
    after: tuple[datetime, uuid.UUID] | None = None,
    limit: int,
) -> list[BudgetIncreaseRequest]:
    """Up to ``limit`` requests in the principal's scope, newest first, after the (created_at, id) key."""
    stmt = scope(select(BudgetIncreaseRequest), principal, BudgetIncreaseRequest)
    if department_id is not None:
        stmt = stmt.where(BudgetIncreaseRequest.department_id == department_id)
    if requested_by is not None:
        stmt = stmt.where(BudgetIncreaseRequest.requested_by == requested_by)
    if status is not None:
        stmt = stmt.where(BudgetIncreaseRequest.status == status)
    if after is not None:
        stmt = stmt.where(tuple_(BudgetIncreaseRequest.created_at, BudgetIncreaseRequest.id) < tuple_(*after))
    stmt = stmt.order_by(BudgetIncreaseRequest.created_at.desc(), BudgetIncreaseRequest.id.desc()).limit(
        limit
    )
    return list((await session.execute(stmt)).scalars())


async def names(
    session: AsyncSession, principal: Principal, user_ids: set[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """Each person's display name (their e-mail when they have none), within the principal's scope."""
    stmt = scope(select(User).where(User.id.in_(user_ids)), principal, User)
    return {user.id: user.display_name or user.email for user in (await session.execute(stmt)).scalars()}


async def open_count(session: AsyncSession, principal: Principal) -> int:
    stmt = scope(select(func.count(BudgetIncreaseRequest.id)), principal, BudgetIncreaseRequest)
    return int((await session.execute(stmt.where(BudgetIncreaseRequest.status == "open"))).scalar_one())

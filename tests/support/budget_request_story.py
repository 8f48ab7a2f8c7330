"""A department whose manager asks for budget and whose org admin decides: the story the notification
tests tell, and the fan-out drained by hand (no worker loop)."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from donatello.budgets import increase_requests
from donatello.budgets.schemas import IncreaseDecision, IncreaseRequestCreate
from donatello.models import Notification, User
from donatello.notifications import fanout
from tests.support import factories
from tests.support.ledger import principal_of

REASON = "Half now; ask again mid-month"


async def drain(sessions: async_sessionmaker[AsyncSession]) -> None:
    while (await fanout.pass_once(sessions)).read:
        pass


async def department(db: AsyncSession) -> tuple[User, User]:
    """(manager, org admin) of a department with a budget this month."""
    org = await factories.organization(db)
    dept = await factories.department(db, org, code=f"MKT{uuid.uuid4().hex[:4].upper()}")
    await factories.budget(db, dept, monthly_aud="10.00")
    manager = await factories.user(db, org, role="dept_manager", department=dept)
    admin = await factories.user(db, org, role="org_admin")
    return manager, admin


async def ask_and_decide(db: AsyncSession, asker: User, admin: User, *, approve: str | None) -> uuid.UUID:
    assert asker.department_id is not None, "a manager asks for their own department"
    asked = await increase_requests.ask(
        db,
        principal_of(asker),
        asker.department_id,
        IncreaseRequestCreate.model_validate(
            {"amount_aud": "0.50", "reason": "launch campaign", "scope": "this_period"}
        ),
    )
    decision = {"decision": "approved", "amount_aud": approve} if approve else {"decision": "declined"}
    await increase_requests.decide(
        db, principal_of(admin), asked.id, IncreaseDecision.model_validate({**decision, "reason": REASON})
    )
    return asked.id


async def notifications_of(db: AsyncSession, person: User) -> list[Notification]:
    rows = await db.execute(select(Notification).where(Notification.user_id == person.id))
    return list(rows.scalars())

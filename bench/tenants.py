"""A committed tenant with one department, one power user and a budget nobody can exhaust in a bench."""

from __future__ import annotations

import uuid
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from donatello.budgets.periods import period_at
from donatello.core.clock import utcnow
from donatello.core.database import transaction
from donatello.models import Department, DepartmentBudget, Organization, User
from donatello.tenancy import Principal, Role


async def bench_tenant(sessions: async_sessionmaker[AsyncSession], budget: str = "10000000.00") -> Principal:
    name = f"bench-{uuid.uuid4().hex[:8]}"
    async with transaction(sessions, platform=True) as session:
        org = Organization(name=name, domain=f"{name}.com.au")
        session.add(org)
        await session.flush()
        dept = Department(organization_id=org.id, name="Bench", code="BENCH")
        session.add(dept)
        await session.flush()
        user = User(
            organization_id=org.id,
            department_id=dept.id,
            azure_ad_id=f"{name}-oid",
            email=f"u@{name}.com.au",
            role="power_user",
            mfa_enabled=True,
        )
        period = period_at(utcnow(), "Australia/Sydney")
        session.add_all(
            [
                user,
                DepartmentBudget(
                    organization_id=org.id,
                    department_id=dept.id,
                    monthly_budget_aud=Decimal(budget),
                    budget_period_start=period.start,
                    budget_period_end=period.end,
                ),
            ]
        )
        await session.flush()
        return Principal(user.id, org.id, dept.id, Role.POWER_USER, user.email)

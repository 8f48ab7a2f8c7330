"""`donatello budgets check` on a live system: settlements committing while it reads never look like a
break, and a real break is still reported."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from donatello.budgets import invariants
from donatello.core.database import create_engine, set_tenant, transaction
from tests.support.ledger import admit, committed_tenant, settle

SETTLERS = 4
CHECKS = 25
SETTLEMENTS = 60


async def test_the_check_never_cries_wolf_while_settlements_commit_and_still_sees_a_real_break(
    engine: AsyncEngine, postgres_url: str
) -> None:
    async with committed_tenant(engine, postgres_url, budget="1000.00", members=SETTLERS) as tenant:
        pool = create_engine(postgres_url, app_role="donatello_app", pool_size=SETTLERS + 2, max_overflow=0)
        sessions = async_sessionmaker(pool, expire_on_commit=False)
        checking = asyncio.Event()
        settled = 0

        async def settle_until_checked(member_index: int) -> None:
            nonlocal settled
            member = tenant.members[member_index]
            while not checking.is_set():
                async with transaction(sessions) as session:
                    await set_tenant(session, tenant.organization_id)
                    admission = await admit(session, member, "0.08")
                async with transaction(sessions) as session:
                    await set_tenant(session, tenant.organization_id)
                    await settle(session, admission, "0.05")  # charged less than held
                settled += 1

        async def check_repeatedly() -> list[list[str]]:
            found: list[list[str]] = []
            while len(found) < CHECKS or settled < SETTLEMENTS:
                reports = await invariants.check_live(sessions)
                found += [r.problems for r in reports if r.department_id == tenant.department.id]
                await asyncio.sleep(0)
            checking.set()
            return found

        settlers = [asyncio.create_task(settle_until_checked(i)) for i in range(SETTLERS)]
        problems = await check_repeatedly()
        await asyncio.gather(*settlers)

        assert settled >= SETTLEMENTS, "the checks must overlap real settlements"
        assert problems == [[]] * len(problems)

        owner = create_async_engine(postgres_url)
        async with owner.begin() as connection:  # a real break: spend edited behind the ledger's back
            await connection.execute(
                text(
                    "UPDATE department_budgets SET current_spend_aud = current_spend_aud + 1 "
                    "WHERE department_id = :id"
                ),
                {"id": tenant.department.id},
            )
        await owner.dispose()
        (broken,) = [
            r for r in await invariants.check_live(sessions) if r.department_id == tenant.department.id
        ]
        expected = Decimal("0.05") * settled
        assert len(broken.problems) == 1
        assert f"cost events sum {expected:.4f} but spend is {expected + 1:.4f}" in broken.problems[0]
        await pool.dispose()

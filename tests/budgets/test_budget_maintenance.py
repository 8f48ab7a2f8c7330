"""Maintenance an operator relies on: lapsed holds are released by the worker's sweep, and
`donatello budgets check` says when a ledger does not add up."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from donatello.budgets.tasks import expire_lapsed_holds
from donatello.core.clock import utcnow
from donatello.core.database import set_tenant, transaction
from donatello.models import AuditOutbox, BudgetReservation, DepartmentBudget
from tests.support.ledger import admit, committed_tenant

DONATELLO = str(Path(sys.executable).with_name("donatello"))


async def _check(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [DONATELLO, "budgets", "check"]
    return await asyncio.to_thread(
        subprocess.run, command, env=env, capture_output=True, text=True, check=False
    )


async def test_the_sweep_releases_lapsed_holds_and_records_each(
    engine: AsyncEngine, postgres_url: str
) -> None:
    async with committed_tenant(engine, postgres_url, budget="5.00", members=2) as tenant:
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        an_hour_ago = utcnow() - timedelta(hours=1)
        for member in tenant.members:
            async with transaction(sessions) as session:
                await set_tenant(session, tenant.organization_id)
                await admit(session, member, "1.25", at=an_hour_ago)

        swept = await expire_lapsed_holds(sessions)

        assert swept >= 1
        async with transaction(sessions, platform=True) as session:
            reserved = await session.scalar(
                select(DepartmentBudget.reserved_aud).where(
                    DepartmentBudget.department_id == tenant.department.id
                )
            )
            statuses = (
                (
                    await session.execute(
                        select(BudgetReservation.status).where(
                            BudgetReservation.department_id == tenant.department.id
                        )
                    )
                )
                .scalars()
                .all()
            )
            recorded = await session.scalar(
                select(func.count()).where(
                    AuditOutbox.organization_id == tenant.organization_id,
                    AuditOutbox.event_type == "budget.reservation_expired",
                )
            )
        assert reserved == Decimal(0)
        assert statuses == ["expired", "expired"]
        assert recorded == 2


async def test_budgets_check_reports_a_ledger_that_does_not_add_up(
    engine: AsyncEngine, postgres_url: str
) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DONATELLO_")},
        "DONATELLO_DATABASE_URL": postgres_url,
    }
    async with committed_tenant(engine, postgres_url, budget="5.00") as tenant:
        healthy = await _check(env)
        assert healthy.returncode == 0, healthy.stderr
        assert "0 with problems" in healthy.stdout

        owner = create_async_engine(postgres_url)
        async with owner.begin() as connection:  # someone edits spend behind the ledger's back
            await connection.execute(
                text("UPDATE department_budgets SET current_spend_aud = 3.5 WHERE department_id = :id"),
                {"id": tenant.department.id},
            )
        await owner.dispose()

        broken = await _check(env)
        assert broken.returncode == 1
        assert f"department {tenant.department.id}" in broken.stderr
        assert "cost events sum 0 but spend is 3.5000" in broken.stderr

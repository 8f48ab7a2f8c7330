"""A hard budget is never overspent, whatever arrives at once: real PostgreSQL, real commits, many
connections, hundreds of concurrent requests."""

from __future__ import annotations

import asyncio
import random
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from donatello.budgets import invariants, reservations, settlement
from donatello.budgets.errors import BudgetExceeded
from donatello.core.database import create_engine, set_tenant, transaction, unit_of_work
from donatello.models import AuditOutbox, CostEvent, DepartmentBudget, User
from tests.support.ledger import (
    admit_generation,
    committed_tenant,
    flat_quote,
    pending_generation,
    principal_of,
)

REQUESTS = 250
PRICE = "0.08"


def _engine(postgres_url: str) -> AsyncEngine:
    # Several real connections so requests truly overlap inside PostgreSQL.
    return create_engine(postgres_url, app_role="donatello_app", pool_size=20, max_overflow=0)


async def _reserve_one(sessions: async_sessionmaker[AsyncSession], member: User) -> uuid.UUID | None:
    """One admission in its own transaction; the generation id when admitted, None when refused."""
    generation = pending_generation(member)
    try:
        async with sessions() as session, unit_of_work(session):
            await set_tenant(session, member.organization_id)
            await admit_generation(session, principal_of(member), generation, Decimal(PRICE))
    except BudgetExceeded:
        return None
    return generation.id


async def _figures(
    sessions: async_sessionmaker[AsyncSession], department_id: uuid.UUID
) -> tuple[Decimal, Decimal]:
    async with transaction(sessions, platform=True) as session:
        row = (
            await session.execute(
                select(DepartmentBudget).where(DepartmentBudget.department_id == department_id)
            )
        ).scalar_one()
        return row.current_spend_aud, row.reserved_aud


async def test_exactly_the_reservations_that_fit_succeed_under_concurrency(
    engine: AsyncEngine, postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with committed_tenant(engine, postgres_url, budget="8.00", members=5) as tenant:
        pool = _engine(postgres_url)
        sessions = async_sessionmaker(pool, expire_on_commit=False)
        with caplog.at_level("WARNING", logger="donatello.budgets.reservations"):
            results = await asyncio.gather(
                *(_reserve_one(sessions, tenant.members[i % 5]) for i in range(REQUESTS))
            )
        admitted = [r for r in results if r is not None]
        # The gate read the row as committed once its lock was granted: each refusal it stepped aside
        # for was named as the decision found it, never a reading from before the wait.
        assert caplog.messages == []

        assert len(admitted) == 100  # 8.00 / 0.08
        spent, reserved = await _figures(sessions, tenant.department.id)
        assert spent + reserved == Decimal("8.00")
        async with transaction(sessions, platform=True) as session:
            refusals = (
                await session.execute(
                    select(func.count()).where(
                        AuditOutbox.organization_id == tenant.organization_id,
                        AuditOutbox.event_type == "budget.request_refused",
                    )
                )
            ).scalar_one()
            assert refusals == REQUESTS - 100  # every refusal is on the record
            assert (await invariants.check(session, tenant.department.id)).problems == []
        await pool.dispose()


async def test_interleaved_settlements_and_releases_never_overspend(
    engine: AsyncEngine, postgres_url: str
) -> None:
    async with committed_tenant(engine, postgres_url, budget="8.00", members=5) as tenant:
        pool = _engine(postgres_url)
        sessions = async_sessionmaker(pool, expire_on_commit=False)
        rng = random.Random(7)
        settled: list[uuid.UUID] = []

        async def life_of_a_request(i: int) -> None:
            member = tenant.members[i % 5]
            generation_id = await _reserve_one(sessions, member)
            if generation_id is None:
                return
            await asyncio.sleep(rng.random() / 100)
            async with transaction(sessions) as session:
                await set_tenant(session, member.organization_id)
                if rng.random() < 0.6:
                    # some providers come back cheaper than quoted
                    actual = Decimal(PRICE) if rng.random() < 0.5 else Decimal("0.05")
                    await settlement.settle(session, generation_id, flat_quote(PRICE), actual_aud=actual)
                    settled.append(generation_id)
                else:
                    await reservations.release(session, generation_id, "provider failed")

        async def watch_the_invariant(stop: asyncio.Event) -> list[Decimal]:
            seen = []
            while not stop.is_set():
                spent, reserved = await _figures(sessions, tenant.department.id)
                seen.append(spent + reserved)
                await asyncio.sleep(0.005)
            return seen

        stop = asyncio.Event()
        watcher = asyncio.create_task(watch_the_invariant(stop))
        await asyncio.gather(*(life_of_a_request(i) for i in range(REQUESTS)))
        stop.set()
        observed = await watcher

        assert observed and max(observed) <= Decimal("8.00")
        spent, reserved = await _figures(sessions, tenant.department.id)
        assert reserved == 0
        assert spent <= Decimal("8.00")
        async with transaction(sessions, platform=True) as session:
            charges = (
                await session.execute(
                    select(func.count(), func.sum(CostEvent.actual_cost_aud)).where(
                        CostEvent.department_id == tenant.department.id
                    )
                )
            ).one()
            assert charges[0] == len(settled)
            assert charges[1] == spent
            assert (await invariants.check(session, tenant.department.id)).problems == []
        await pool.dispose()


async def test_settling_the_same_generation_twice_at_once_charges_once(
    engine: AsyncEngine, postgres_url: str
) -> None:
    async with committed_tenant(engine, postgres_url, budget="10.00") as tenant:
        pool = _engine(postgres_url)
        sessions = async_sessionmaker(pool, expire_on_commit=False)
        member = tenant.members[0]
        generation_id = await _reserve_one(sessions, member)
        assert generation_id is not None

        async def settle_once() -> uuid.UUID:
            async with transaction(sessions) as session:
                await set_tenant(session, member.organization_id)
                return (await settlement.settle(session, generation_id, flat_quote(PRICE))).id

        events = await asyncio.gather(*(settle_once() for _ in range(8)))

        assert len(set(events)) == 1
        spent, reserved = await _figures(sessions, tenant.department.id)
        assert (spent, reserved) == (Decimal(PRICE), Decimal(0))
        await pool.dispose()

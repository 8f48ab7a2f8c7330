"""Reserve + settle throughput at the service layer against the bare SQL of the same two transactions.

Baseline: hand-written SQL doing what the services do for one generation — transaction 1: lock the budget
row, check, insert the hold, bump reserved, insert the generation; transaction 2: lock the budget row,
lock the hold, mark it settled, insert the cost event, move reserved to spent. Measured: the same through
admission's hold (`generations.admission.hold_and_write`: the budget's gate, else its decision, with the
generation and its audit row) and `budgets.settlement.settle` (period roll-over and lapsed-hold checks,
per-user caps, audit events, threshold alerts included). Both run sequentially and with 8 concurrent
clients on one department (the contended case: every request serialises on that budget row).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bench.tenants import bench_tenant
from donatello.budgets import reservations, settlement
from donatello.config import Settings
from donatello.core.clock import utcnow
from donatello.core.database import create_engine, create_sessionmaker, set_tenant, transaction
from donatello.generations import admission
from donatello.models import DepartmentBudget, Generation
from donatello.pricing.service import Quote
from donatello.tenancy import Principal

PRICE = Decimal("0.0800")
OPERATIONS = 400
CLIENTS = 8
QUOTE = Quote(
    "local", "pillow-sketch", "1024x1024", "standard", 1, PRICE, PRICE, "AUD", PRICE, Decimal(1), None, None
)


def _generation(principal: Principal, generation_id: uuid.UUID) -> Generation:
    assert principal.department_id is not None
    return Generation(
        id=generation_id,
        organization_id=principal.organization_id,
        user_id=principal.user_id,
        department_id=principal.department_id,
        model_provider="local",
        model_name="pillow-sketch",
        prompt_encrypted="sealed",
    )


async def _service_cycle(sessions: async_sessionmaker[AsyncSession], principal: Principal) -> None:
    generation_id, now = uuid.uuid4(), utcnow()
    generation = _generation(principal, generation_id)
    generation.reservation_aud, generation.created_at, generation.next_attempt_at = PRICE, now, now
    async with transaction(sessions) as session:
        await set_tenant(session, principal.organization_id)
        await admission.hold_and_write(
            session, principal, [generation], at=now, hold_for=reservations.DEFAULT_HOLD
        )
    async with transaction(sessions) as session:
        await set_tenant(session, principal.organization_id)
        await settlement.settle(session, generation_id, QUOTE)


async def _bare_cycle(sessions: async_sessionmaker[AsyncSession], principal: Principal) -> None:
    generation_id = uuid.uuid4()
    params = {
        "d": principal.department_id,
        "o": principal.organization_id,
        "u": principal.user_id,
        "g": generation_id,
        "q": PRICE,
    }
    async with transaction(sessions) as session:
        await set_tenant(session, principal.organization_id)
        row = (
            await session.execute(
                text(
                    "SELECT monthly_budget_aud, current_spend_aud, reserved_aud FROM department_budgets WHERE department_id = :d FOR UPDATE"
                ),
                params,
            )
        ).one()
        assert row[1] + row[2] + PRICE <= row[0]
        await session.execute(
            text(
                "INSERT INTO budget_reservations (organization_id, department_id, user_id, generation_id, amount_aud, period_start, expires_at) "
                "VALUES (:o, :d, :u, :g, :q, date_trunc('month', now())::date, now() + interval '15 minutes')"
            ),
            params,
        )
        await session.execute(
            text("UPDATE department_budgets SET reserved_aud = reserved_aud + :q WHERE department_id = :d"),
            params,
        )
        await session.execute(
            text(
                "INSERT INTO generations (id, organization_id, user_id, department_id, model_provider, model_name, prompt_encrypted) "
                "VALUES (:g, :o, :u, :d, 'local', 'pillow-sketch', 'sealed')"
            ),
            params,
        )
    async with transaction(sessions) as session:
        await set_tenant(session, principal.organization_id)
        await session.execute(
            text("SELECT 1 FROM department_budgets WHERE department_id = :d FOR UPDATE"), params
        )
        await session.execute(
            text("SELECT 1 FROM budget_reservations WHERE generation_id = :g FOR UPDATE"), params
        )
        await session.execute(
            text(
                "UPDATE budget_reservations SET status = 'settled', closed_at = now() WHERE generation_id = :g"
            ),
            params,
        )
        await session.execute(
            text(
                "INSERT INTO cost_events (organization_id, generation_id, department_id, user_id, model_provider, model_name, "
                "estimated_cost_aud, actual_cost_aud, department_code, department_name, user_email) "
                "VALUES (:o, :g, :d, :u, 'local', 'pillow-sketch', :q, :q, 'BENCH', 'Bench', 'u@bench')"
            ),
            params,
        )
        await session.execute(
            text(
                "UPDATE department_budgets SET reserved_aud = reserved_aud - :q, current_spend_aud = current_spend_aud + :q "
                "WHERE department_id = :d"
            ),
            params,
        )


async def _throughput(cycle: Callable[[], Awaitable[None]], clients: int) -> float:
    for _ in range(20):
        await cycle()
    per_client = OPERATIONS // clients

    async def client() -> None:
        for _ in range(per_client):
            await cycle()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return per_client * clients / (time.perf_counter() - started)


async def run(url: str, settings: Settings) -> None:
    engine = create_engine(url, app_role=settings.database_app_role, pool_size=CLIENTS)
    sessions = create_sessionmaker(engine)
    bare_tenant = await bench_tenant(sessions)
    service_tenant = await bench_tenant(sessions)
    for clients in (1, CLIENTS):
        bare = await _throughput(lambda: _bare_cycle(sessions, bare_tenant), clients)
        service = await _throughput(lambda: _service_cycle(sessions, service_tenant), clients)
        print(
            f"{clients} client(s): bare SQL {bare:7.1f} reserve+settle/s   services {service:7.1f} /s   "
            f"ratio services/bare = {service / bare:.2f}"
        )
    async with transaction(sessions, platform=True) as session:
        spent = await session.scalar(
            select(DepartmentBudget.current_spend_aud).where(
                DepartmentBudget.department_id == service_tenant.department_id
            )
        )
    print(f"(service tenant spent {spent} AUD over {2 * (OPERATIONS + 20)} settlements)")
    await engine.dispose()

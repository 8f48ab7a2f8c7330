"""Hundreds of `POST /v1/generations` at once on one department, through the real application on real
connections with real commits: the budget admits exactly what fits — whether the admission's one
statement decided it (the common case) or the budget decided the slow way (refusals, soft mode, a
lapsed hold to sweep) — and the records agree with the money."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from donatello.budgets import invariants
from donatello.budgets.periods import month_starting, period_at
from donatello.config import Settings
from donatello.core.clock import utcnow
from donatello.core.database import create_engine, transaction
from donatello.main import create_app
from donatello.models import (
    AuditOutbox,
    BudgetReservation,
    DepartmentBudget,
    DepartmentBudgetPeriod,
    Generation,
    ModelProvider,
)
from tests.support.ledger import CommittedTenant, committed_tenant

REQUESTS = 250
PRICE = Decimal("0.0800")
UNLIMITED = {"power_user": 1_000_000}


@pytest.fixture
async def model(engine: AsyncEngine) -> AsyncIterator[str]:
    """A committed model at 0.08 AUD an image, removed afterwards."""
    name = f"sketch-{uuid.uuid4().hex[:8]}"
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with transaction(sessions, platform=True) as session:
        session.add(
            ModelProvider(
                provider_name="local",
                model_name=name,
                api_endpoint="local://pillow",
                cost_per_image_aud=PRICE,
            )
        )
    yield name
    async with transaction(sessions, platform=True) as session:
        await session.execute(delete(ModelProvider).where(ModelProvider.model_name == name))


@pytest.fixture
async def api(settings: Settings, postgres_url: str) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The application on a pool of 20 connections, so admissions truly overlap inside PostgreSQL."""
    pool = create_engine(postgres_url, app_role=settings.database_app_role, pool_size=20, max_overflow=0)
    unlimited = settings.model_copy(
        update={
            "rate_limit_user_per_minute": UNLIMITED,
            "rate_limit_user_per_day": UNLIMITED,
            "rate_limit_organization_per_minute": 1_000_000,
        }
    )
    app = create_app(unlimited, engine=pool)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=60) as http:
            yield app, http
    await pool.dispose()


async def _storm(
    app: FastAPI, http: httpx.AsyncClient, tenant: CommittedTenant, model: str, requests: int = REQUESTS
) -> Counter[str]:
    def headers(index: int) -> dict[str, str]:
        member = tenant.members[index % len(tenant.members)]
        return {"Authorization": f"Bearer {app.state.token_signer.issue(member.id, member.organization_id)}"}

    body = {"prompt": "a lighthouse", "model": f"local/{model}", "size": "256x256"}
    answers = await asyncio.gather(
        *(http.post("/v1/generations", json=body, headers=headers(i)) for i in range(requests))
    )
    return Counter(
        "admitted"
        if a.status_code == 202
        else f"{a.status_code} {a.json().get('type', '').rsplit('/', 1)[-1]}"
        for a in answers
    )


async def _records(engine: AsyncEngine, tenant: CommittedTenant) -> dict[str, object]:
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with transaction(sessions, platform=True) as session:
        budget = await session.scalar(
            select(DepartmentBudget).where(DepartmentBudget.department_id == tenant.department.id)
        )
        assert budget is not None

        async def count(*where: ColumnElement[bool]) -> int:
            return int(await session.scalar(select(func.count()).where(*where)) or 0)

        org = tenant.organization_id
        return {
            "reserved": budget.reserved_aud + budget.current_spend_aud,
            "generations": await count(Generation.organization_id == org),
            "over budget": await count(
                Generation.organization_id == org, Generation.is_over_budget.is_(True)
            ),
            "held": await count(BudgetReservation.organization_id == org, BudgetReservation.status == "held"),
            "requested events": await count(
                AuditOutbox.organization_id == org, AuditOutbox.event_type == "generation.requested"
            ),
            "refusal events": await count(
                AuditOutbox.organization_id == org, AuditOutbox.event_type == "budget.request_refused"
            ),
            "problems": (await invariants.check(session, tenant.department.id)).problems,
        }


async def test_a_hard_budget_admits_exactly_what_fits_under_concurrent_requests(
    api: tuple[FastAPI, httpx.AsyncClient], engine: AsyncEngine, postgres_url: str, model: str
) -> None:
    app, http = api
    async with committed_tenant(engine, postgres_url, budget="8.00", members=5) as tenant:
        answers = await _storm(app, http, tenant, model)

        assert answers == {"admitted": 100, "402 budget-exceeded": 150}  # 8.00 / 0.08
        assert await _records(engine, tenant) == {
            "reserved": Decimal("8.00"),
            "generations": 100,
            "over budget": 0,
            "held": 100,
            "requested events": 100,
            "refusal events": 150,
            "problems": [],
        }


async def test_a_soft_budget_admits_everyone_and_flags_exactly_those_past_it(
    api: tuple[FastAPI, httpx.AsyncClient], engine: AsyncEngine, postgres_url: str, model: str
) -> None:
    app, http = api
    async with committed_tenant(engine, postgres_url, budget="8.00", mode="soft", members=5) as tenant:
        answers = await _storm(app, http, tenant, model)

        assert answers == {"admitted": REQUESTS}
        records = await _records(engine, tenant)
        assert records["over budget"] == REQUESTS - 100
        assert records["held"] == records["generations"] == records["requested events"] == REQUESTS
        assert records["reserved"] == PRICE * REQUESTS
        assert records["problems"] == []


async def test_a_lapsed_hold_is_swept_by_the_first_of_concurrent_admissions_and_only_once(
    api: tuple[FastAPI, httpx.AsyncClient], engine: AsyncEngine, postgres_url: str, model: str
) -> None:
    """A hold that lapsed still sits in the budget's reserved money. Forty requests fit even beside it,
    yet the admission's one statement steps aside for the slow way, which sweeps it (expired, audited)
    exactly once, as every admission did before."""
    app, http = api
    async with committed_tenant(engine, postgres_url, budget="8.00", members=5) as tenant:
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        async with transaction(sessions, platform=True) as session:
            old = utcnow() - timedelta(hours=1)
            member = tenant.members[0]
            generation = Generation(
                id=uuid.uuid4(),
                organization_id=member.organization_id,
                user_id=member.id,
                department_id=tenant.department.id,
                model_provider="local",
                model_name=model,
                prompt_encrypted="",
                size="256x256",
                reservation_aud=Decimal("4.00"),
                created_at=old,
                next_attempt_at=old,
            )
            session.add(generation)
            await session.flush()
            budget = await session.scalar(
                select(DepartmentBudget).where(DepartmentBudget.department_id == tenant.department.id)
            )
            assert budget is not None
            session.add(
                BudgetReservation(
                    organization_id=member.organization_id,
                    department_id=tenant.department.id,
                    user_id=member.id,
                    generation_id=generation.id,
                    amount_aud=Decimal("4.00"),
                    status="held",
                    period_start=budget.budget_period_start,
                    expires_at=old + timedelta(minutes=15),
                    created_at=old,
                )
            )
            budget.reserved_aud += Decimal("4.00")

        answers = await _storm(app, http, tenant, model, requests=40)

        assert answers == {"admitted": 40}
        records = await _records(engine, tenant)
        assert records["reserved"] == PRICE * 40 and records["held"] == 40  # the lapsed 4.00 is gone
        assert records["problems"] == []
        async with transaction(sessions, platform=True) as session:
            lapsed = await session.scalar(
                select(BudgetReservation.status).where(BudgetReservation.generation_id == generation.id)
            )
            expiries = await session.scalar(
                select(func.count()).where(
                    AuditOutbox.organization_id == tenant.organization_id,
                    AuditOutbox.event_type == "budget.reservation_expired",
                )
            )
        assert (lapsed, expiries) == ("expired", 1)


async def test_the_first_admissions_of_a_month_close_the_last_one_exactly_once(
    api: tuple[FastAPI, httpx.AsyncClient], engine: AsyncEngine, postgres_url: str, model: str
) -> None:
    """The stored period is last month's (2.00 spent): twenty requests arrive at once. The one statement
    steps aside for the slow way, which closes last month once and counts the requests in this one."""
    app, http = api
    current = period_at(utcnow(), "Australia/Sydney")  # the factories place organizations in Sydney
    last = month_starting(current.start - timedelta(days=1), "Australia/Sydney")
    async with committed_tenant(
        engine, postgres_url, budget="8.00", members=5, period=(last.start, last.end)
    ) as tenant:
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        async with transaction(sessions, platform=True) as session:
            budget = await session.scalar(
                select(DepartmentBudget).where(DepartmentBudget.department_id == tenant.department.id)
            )
            assert budget is not None
            budget.current_spend_aud = Decimal("2.00")

        assert await _storm(app, http, tenant, model, requests=20) == {"admitted": 20}

        async with transaction(sessions, platform=True) as session:
            budget = await session.scalar(
                select(DepartmentBudget).where(DepartmentBudget.department_id == tenant.department.id)
            )
            closed = (
                await session.execute(
                    select(DepartmentBudgetPeriod.period_start, DepartmentBudgetPeriod.spent_aud).where(
                        DepartmentBudgetPeriod.department_id == tenant.department.id
                    )
                )
            ).all()
            closings = await session.scalar(
                select(func.count()).where(
                    AuditOutbox.organization_id == tenant.organization_id,
                    AuditOutbox.event_type == "budget.period_closed",
                )
            )
            periods = set(
                (
                    await session.scalars(
                        select(BudgetReservation.period_start).where(
                            BudgetReservation.organization_id == tenant.organization_id
                        )
                    )
                ).all()
            )
        assert budget is not None
        assert (budget.budget_period_start, budget.current_spend_aud, budget.reserved_aud) == (
            current.start,
            Decimal("0"),
            PRICE * 20,
        )
        assert [tuple(row) for row in closed] == [(last.start, Decimal("2.00"))] and closings == 1
        assert periods == {current.start}


async def test_a_per_user_cap_admits_exactly_what_fits_each_user(
    api: tuple[FastAPI, httpx.AsyncClient], engine: AsyncEngine, postgres_url: str, model: str
) -> None:
    """A department cap of 0.20 a person: of 50 concurrent requests from 5 people, two each are admitted
    (0.16), however much the department budget still has."""
    app, http = api
    async with committed_tenant(engine, postgres_url, budget="8.00", members=5, cap="0.20") as tenant:
        answers = await _storm(app, http, tenant, model, requests=50)

        assert answers == {"admitted": 10, "402 user-cap-exceeded": 40}
        records = await _records(engine, tenant)
        assert records["reserved"] == PRICE * 10 and records["held"] == 10

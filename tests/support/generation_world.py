"""A tenant ready to generate, and a worker bound to the test's transaction."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import urlsplit

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.auth.tokens import TokenSigner
from donatello.generations.processing import Processor
from donatello.models import (
    AuditOutbox,
    CostEvent,
    Department,
    DepartmentBudget,
    ModelProvider,
    Organization,
    User,
)
from donatello.providers import availability_for
from donatello.providers.credentials import ModelCredentials
from tests.support import factories, provider_rows
from tests.support.savepoints import sessions_in


@dataclass
class World:
    org: Organization
    department: Department
    member: User
    local: ModelProvider
    headers: dict[str, str]


async def world(
    db: AsyncSession,
    tokens: TokenSigner,
    *,
    budget: str = "10.00",
    mode: str = "hard",
    role: str = "power_user",
) -> World:
    local = db.info.get("generation_world_model")  # one catalogue per test, shared by its tenants
    if local is None:
        await provider_rows.only_these_models(db)
        local = await provider_rows.model(db, "local", name=f"pillow-{uuid.uuid4().hex[:6]}", price="0.0500")
        db.info["generation_world_model"] = local
    org = await factories.organization(db)
    dept = await factories.department(db, org)
    await factories.budget(db, dept, monthly_aud=budget, mode=mode)
    member = await factories.user(db, org, role=role, department=dept)
    headers = {"Authorization": f"Bearer {tokens.issue(member.id, org.id)}"}
    return World(org, dept, member, local, headers)


async def worker(app: FastAPI, db: AsyncSession, http: httpx.AsyncClient) -> Processor:
    """A worker whose transactions are savepoints of the test's transaction; provider back-off is instant."""

    async def no_wait(_: float) -> None:
        await asyncio.sleep(0)

    return Processor(
        sessions=sessions_in(await db.connection()),
        settings=app.state.settings,
        sealer=app.state.sealer,
        store=app.state.image_store,
        http=http,
        availability=availability_for(None),
        sleep=no_wait,
        credentials=ModelCredentials(app.state.settings),  # the test models' key is in TEST_PROVIDER_KEY
    )


async def fetch(client: httpx.AsyncClient, url: str) -> httpx.Response:
    """Follow a read link: the local store's links point at this API (/v1/files/...)."""
    parts = urlsplit(url)
    return await client.get(parts.path + (f"?{parts.query}" if parts.query else ""))


async def spent(db: AsyncSession, department: Department) -> tuple[Decimal, Decimal]:
    row = (
        await db.execute(select(DepartmentBudget).where(DepartmentBudget.department_id == department.id))
    ).scalar_one()
    await db.refresh(row)
    return row.current_spend_aud, row.reserved_aud


async def charges(db: AsyncSession, department: Department) -> list[CostEvent]:
    return list(
        (await db.execute(select(CostEvent).where(CostEvent.department_id == department.id))).scalars()
    )


async def events(db: AsyncSession, org: Organization, prefix: str = "generation.") -> list[str]:
    stmt = (
        select(AuditOutbox.event_type)
        .where(AuditOutbox.organization_id == org.id, AuditOutbox.event_type.startswith(prefix))
        .order_by(AuditOutbox.id)
    )
    return list((await db.execute(stmt)).scalars())


async def count_generations(db: AsyncSession, org: Organization) -> int:
    from donatello.models import Generation

    return int(await db.scalar(select(func.count()).where(Generation.organization_id == org.id)) or 0)


async def let_cool_down_pass(db: AsyncSession) -> None:
    """Time passes past every provider's Retry-After: the cooling deployments and the jobs waiting on
    them are due now (what the clock would do, without the test sleeping through it)."""
    from sqlalchemy import update

    from donatello.core.clock import utcnow
    from donatello.models import Generation, ModelPace

    now = utcnow()
    await db.execute(update(ModelPace).values(cool_down_until=now))
    await db.execute(update(Generation).where(Generation.status == "pending").values(next_attempt_at=now))

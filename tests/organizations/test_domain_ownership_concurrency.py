"""No e-mail domain belongs to two organizations, even when two platform administrators onboard tenants
claiming it at the same moment: the domain changes are serialised, so exactly one wins and the other is
told the domain is taken (committed transactions, not the test's rolled-back one)."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from donatello.core.database import transaction
from donatello.organizations import service as organizations
from donatello.organizations.errors import OrganizationTaken
from donatello.organizations.schemas import OrganizationCreate
from donatello.tenancy import Principal, Role

ROUNDS = 5
RACERS = 6


def _operator() -> Principal:
    return Principal(uuid.uuid4(), uuid.uuid4(), None, Role.SUPER_ADMIN, "operator@platform.example")


async def test_racing_onboardings_give_a_contested_domain_to_exactly_one_organization(
    engine: AsyncEngine, postgres_url: str
) -> None:
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    created: list[uuid.UUID] = []

    async def onboard(contested: str) -> str:
        body = OrganizationCreate(
            name="Racer", domain=f"r-{uuid.uuid4().hex[:10]}.com.au", email_domains=[contested]
        )
        try:
            async with transaction(sessions, platform=True) as session:
                org = await organizations.create(session, _operator(), body)
                created.append(org.id)
        except OrganizationTaken:
            return "taken"
        return "created"

    try:
        for _ in range(ROUNDS):
            contested = f"contested-{uuid.uuid4().hex[:10]}.com"
            outcomes = await asyncio.gather(*(onboard(contested) for _ in range(RACERS)))
            assert sorted(outcomes) == ["created"] + ["taken"] * (RACERS - 1)
    finally:
        owner = create_async_engine(postgres_url)
        async with owner.begin() as connection:
            await connection.execute(text("SELECT set_config('app.retention', 'on', true)"))
            await connection.execute(text("DELETE FROM organizations WHERE id = ANY(:ids)"), {"ids": created})
        await owner.dispose()

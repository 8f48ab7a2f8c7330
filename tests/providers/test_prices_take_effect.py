"""The catalogue is cached per process, and a scheduled price takes effect at its instant although
nothing changes the catalogue then: the next admission after the boundary is held at the new price. Real
commits, the real application."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from donatello.config import Settings
from donatello.core.clock import utcnow
from donatello.core.database import transaction
from donatello.main import create_app
from donatello.models import Generation, ModelProvider
from donatello.providers import repository
from tests.support.ledger import CommittedTenant, committed_tenant


@pytest.fixture
async def model(engine: AsyncEngine) -> AsyncIterator[ModelProvider]:
    """A committed model of our own at 0.0100 AUD an image, removed afterwards (its prices with it)."""
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    row = ModelProvider(
        provider_name="local",
        model_name=f"sketch-{uuid.uuid4().hex[:8]}",
        api_endpoint="local://pillow",
        cost_per_image_aud=Decimal("0.0100"),
    )
    async with transaction(sessions, platform=True) as session:
        session.add(row)
    yield row
    async with transaction(sessions, platform=True) as session:
        await session.execute(delete(ModelProvider).where(ModelProvider.id == row.id))


@pytest.fixture
async def tenant(engine: AsyncEngine, postgres_url: str) -> AsyncIterator[CommittedTenant]:
    async with committed_tenant(engine, postgres_url, budget="100.00") as committed:
        yield committed


@pytest.fixture
async def api(settings: Settings, engine: AsyncEngine) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(settings, engine=engine)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield app, http


async def test_a_scheduled_price_is_held_by_the_first_admission_after_its_instant_although_the_catalogue_is_cached(
    api: tuple[FastAPI, httpx.AsyncClient], tenant: CommittedTenant, model: ModelProvider, engine: AsyncEngine
) -> None:
    app, client = api
    member = tenant.members[0]
    headers = {"Authorization": f"Bearer {app.state.token_signer.issue(member.id, member.organization_id)}"}
    body = {"prompt": "a lighthouse", "model": f"local/{model.model_name}", "size": "256x256"}
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    soon = utcnow() + timedelta(seconds=1.5)
    async with transaction(sessions, platform=True) as session:  # what POST /prices writes
        await repository.put_price(
            session,
            {
                "provider_id": model.id,
                "effective_from": soon,
                "pricing_unit": "image",
                "pricing_currency": "AUD",
                "cost_per_image_aud": Decimal("0.0300"),
            },
        )

    held = [await admitted_hold(client, headers, body, engine) for _ in range(2)]  # the 2nd from the cache
    await asyncio.sleep((soon - utcnow()).total_seconds() + 0.05)
    held.append(await admitted_hold(client, headers, body, engine))

    assert held == [Decimal("0.0100"), Decimal("0.0100"), Decimal("0.0300")]


async def admitted_hold(
    client: httpx.AsyncClient, headers: dict[str, str], body: dict[str, str], engine: AsyncEngine
) -> Decimal:
    response = await client.post("/v1/generations", json=body, headers=headers)
    assert response.status_code == 202, response.text
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with transaction(sessions, platform=True) as session:
        stmt = select(Generation.reservation_aud).where(Generation.id == uuid.UUID(response.json()["id"]))
        return Decimal((await session.execute(stmt)).scalar_one())

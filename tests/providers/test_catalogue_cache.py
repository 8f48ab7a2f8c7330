"""The model catalogue is cached per process between admissions, yet a price change, a paused model or a
rolled-back change is seen by the very next admission: real commits, the real application."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from donatello.config import Settings
from donatello.core.database import set_tenant, transaction
from donatello.main import create_app
from donatello.models import Generation, ModelProvider
from donatello.pricing.service import quote
from tests.support.ledger import CommittedTenant, committed_tenant


@pytest.fixture
async def model(engine: AsyncEngine) -> AsyncIterator[str]:
    """A committed model of our own at 0.0100 AUD an image, removed afterwards."""
    name = f"sketch-{uuid.uuid4().hex[:8]}"
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with transaction(sessions, platform=True) as session:
        session.add(
            ModelProvider(
                provider_name="local",
                model_name=name,
                api_endpoint="local://pillow",
                cost_per_image_aud=Decimal("0.0100"),
            )
        )
    yield name
    async with transaction(sessions, platform=True) as session:
        await session.execute(delete(ModelProvider).where(ModelProvider.model_name == name))


@pytest.fixture
async def tenant(engine: AsyncEngine, postgres_url: str) -> AsyncIterator[CommittedTenant]:
    async with committed_tenant(engine, postgres_url, budget="100.00") as committed:
        yield committed


@pytest.fixture
async def api(settings: Settings, engine: AsyncEngine) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The application with its own committing transactions (not the tests' rolled-back one)."""
    app = create_app(settings, engine=engine)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield app, http


async def _set(engine: AsyncEngine, name: str, **values: object) -> None:
    """What an administrator's change does: commit new values for the model."""
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with transaction(sessions, platform=True) as session:
        await session.execute(update(ModelProvider).where(ModelProvider.model_name == name).values(**values))


async def _held(engine: AsyncEngine, generation_id: str) -> Decimal:
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with transaction(sessions, platform=True) as session:
        stmt = select(Generation.reservation_aud).where(Generation.id == uuid.UUID(generation_id))
        return Decimal((await session.execute(stmt)).scalar_one())


async def test_a_price_change_is_charged_by_the_next_admission(
    api: tuple[FastAPI, httpx.AsyncClient], tenant: CommittedTenant, model: str, engine: AsyncEngine
) -> None:
    app, client = api
    member = tenant.members[0]
    headers = {"Authorization": f"Bearer {app.state.token_signer.issue(member.id, member.organization_id)}"}
    body = {"prompt": "a lighthouse", "model": f"local/{model}", "size": "256x256"}

    first = await client.post("/v1/generations", json=body, headers=headers)
    again = await client.post("/v1/generations", json=body, headers=headers)  # served from the cache
    assert first.status_code == again.status_code == 202, first.text
    assert await _held(engine, again.json()["id"]) == Decimal("0.0100")

    await _set(engine, model, cost_per_image_aud=Decimal("0.0500"))
    repriced = await client.post("/v1/generations", json=body, headers=headers)
    assert repriced.status_code == 202
    assert await _held(engine, repriced.json()["id"]) == Decimal("0.0500")

    await _set(engine, model, is_active=False)
    paused = await client.post("/v1/generations", json=body, headers=headers)
    assert paused.status_code == 422, paused.text  # no longer offered: no active model has that name
    assert paused.json()["type"] == "https://donatello.ai/problems/unknown-model"


async def test_a_change_that_rolls_back_is_never_served_to_anyone(
    api: tuple[FastAPI, httpx.AsyncClient], tenant: CommittedTenant, model: str, engine: AsyncEngine
) -> None:
    app, client = api
    member = tenant.members[0]
    headers = {"Authorization": f"Bearer {app.state.token_signer.issue(member.id, member.organization_id)}"}
    body = {"prompt": "a lighthouse", "model": f"local/{model}", "size": "256x256"}
    assert (await client.post("/v1/generations", json=body, headers=headers)).status_code == 202

    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with sessions() as session:
        await session.begin()
        await set_tenant(session, tenant.organization_id)
        row = (
            await session.execute(select(ModelProvider).where(ModelProvider.model_name == model))
        ).scalar_one()
        row.cost_per_image_aud = Decimal("9.9900")
        await session.flush()
        # the writer sees its own change ...
        assert (await quote(session, "local", model, "256x256", "standard", 1)).unit_price_aud == Decimal(
            "9.9900"
        )
        await session.rollback()

    # ... and nobody sees it once it is gone
    after = await client.post("/v1/generations", json=body, headers=headers)
    assert after.status_code == 202
    assert await _held(engine, after.json()["id"]) == Decimal("0.0100")

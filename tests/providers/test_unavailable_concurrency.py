"""Workers that find the same broken model at the same moment record it once: one reason, one audit
event, one webhook event."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from donatello.core.database import transaction
from donatello.models import AuditOutbox, ModelProvider
from donatello.providers.unavailable import make_unavailable
from tests.support.ledger import committed_tenant

WORKERS = 6


@pytest.fixture
async def committed_model(engine: AsyncEngine, postgres_url: str) -> AsyncIterator[ModelProvider]:
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with transaction(sessions, platform=True) as session:
        model = ModelProvider(
            provider_name="azure-openai",
            model_name=f"race-{uuid.uuid4().hex[:8]}",
            api_endpoint="https://race.openai.azure.com/openai/deployments/gone",
            cost_per_image_aud=Decimal("0.0800"),
        )
        session.add(model)
    yield model
    owner = create_async_engine(postgres_url)
    async with owner.begin() as connection:
        await connection.execute(text("DELETE FROM model_providers WHERE id = :id"), {"id": model.id})
    await owner.dispose()


async def test_concurrent_workers_make_a_model_unavailable_exactly_once(
    engine: AsyncEngine, postgres_url: str, committed_model: ModelProvider
) -> None:
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with committed_tenant(engine, postgres_url, budget="5.00") as tenant:

        async def worker(number: int) -> bool:
            async with transaction(sessions, tenant=tenant.organization_id) as session:
                return await make_unavailable(
                    session,
                    committed_model.provider_name,
                    committed_model.model_name,
                    reason="the provider has no such deployment or model (HTTP 404)",
                    error=f"HTTP 404: DeploymentNotFound (worker {number})",
                    status=404,
                    organization_id=tenant.organization_id,
                )

        made = await asyncio.gather(*(worker(n) for n in range(WORKERS)))

        async with transaction(sessions, platform=True) as session:
            row = await session.get(ModelProvider, committed_model.id, populate_existing=True)
            events = await session.scalar(
                select(func.count())
                .select_from(AuditOutbox)
                .where(
                    AuditOutbox.event_type == "provider.unavailable",
                    AuditOutbox.payload["resource_id"].astext == str(committed_model.id),
                )
            )
    assert sorted(made) == [False] * (WORKERS - 1) + [True]
    assert row is not None and row.unavailable_reason is not None and row.unavailable_since is not None
    assert events == 1

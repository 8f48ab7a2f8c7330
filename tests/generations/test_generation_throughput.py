"""One worker process keeps many provider calls in flight: slow models do not queue people behind each
other while the worker's CPU idles."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from donatello.core.database import set_tenant, transaction
from donatello.core.jobs import JobContext
from donatello.generations import admission
from donatello.generations.processing import Processor
from donatello.generations.schemas import GenerationCreate
from donatello.models import Generation, ModelProvider, ProviderConfig
from donatello.providers import availability_for
from donatello.providers.credentials import ModelCredentials
from tests.support import provider_rows
from tests.support.azure_openai_stub import AzureOpenAIStub, slow
from tests.support.ledger import committed_tenant, principal_of

PROVIDER_SECONDS = 10.0


@pytest.fixture
async def slow_model(
    engine: AsyncEngine, postgres_url: str, azure_stub: AzureOpenAIStub
) -> AsyncIterator[ModelProvider]:
    """An Azure deployment with no quota of its own, committed (the catalogue is platform-wide)."""
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with transaction(sessions, platform=True) as session:
        model = ModelProvider(
            provider_name="azure-openai",
            model_name=f"t-{uuid.uuid4().hex[:8]}",
            api_endpoint=azure_stub.endpoint(),
            cost_per_image_aud=Decimal("0.0800"),
            timeout_seconds=60,
        )
        session.add(model)
        await session.flush()
        session.add(
            ProviderConfig(
                provider_id=model.id,
                max_retries=0,
                configuration={},
                credential=provider_rows.TEST_CREDENTIAL,
            )
        )
    yield model
    owner = create_async_engine(postgres_url)
    async with owner.begin() as connection:
        await connection.execute(text("DELETE FROM model_providers WHERE id = :id"), {"id": model.id})
    await owner.dispose()


async def test_one_worker_finishes_a_hundred_ten_second_generations_together(
    app: FastAPI,
    engine: AsyncEngine,
    postgres_url: str,
    azure_stub: AzureOpenAIStub,
    slow_model: ModelProvider,
) -> None:
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    settings = app.state.settings
    gate = admission.Admission(settings, app.state.sealer, app.state.rate_limiter, availability_for(None))
    async with committed_tenant(engine, postgres_url, budget="50.00", members=10) as tenant:
        ids = []
        for i in range(100):  # ten people, ten images each, all asked before the worker starts
            member = tenant.members[i % 10]
            member.mfa_enabled = True
            body = GenerationCreate(
                prompt=f"harbour at dawn {i}",
                model=f"{slow_model.provider_name}/{slow_model.model_name}",
                size="1024x1024",
            )
            async with transaction(sessions) as session:
                await set_tenant(session, member.organization_id)
                ids.append((await admission.request(session, principal_of(member), body, None, gate)).id)
        azure_stub.reply(*(slow(PROVIDER_SECONDS) for _ in ids))

        context = JobContext(settings, sessions)  # the test engine's pool: 5 connections + 10 overflow
        async with httpx.AsyncClient(trust_env=False) as http:
            worker = Processor(
                sessions,
                settings,
                app.state.sealer,
                app.state.image_store,
                http,
                availability_for(None),
                credentials=ModelCredentials(settings),
            )
            serving = asyncio.create_task(worker.serve(context))
            started = time.monotonic()
            try:
                while (completed := await _completed(sessions, ids)) < len(ids):
                    assert time.monotonic() - started < 60, f"only {completed} of 100 completed in 60 s"
                    assert not serving.done(), "the worker stopped"
                    await asyncio.sleep(0.5)
            finally:
                context.stopping.set()
                await serving

    # 64 in flight at once (the default): two rounds of ten seconds, where one at a time would take 1000 s
    assert azure_stub.most_in_flight >= 50
    assert len(azure_stub.requests) == 100  # each generation asked for once


async def _completed(sessions: async_sessionmaker, ids: list[uuid.UUID]) -> int:  # type: ignore[type-arg]
    async with transaction(sessions, platform=True) as session:
        done = await session.scalar(
            select(func.count()).where(Generation.id.in_(ids), Generation.status == "completed")
        )
    return int(done or 0)

"""Slow models, real quotas: one worker process keeps many provider calls in flight, and a model's quota
paces the calls of every worker together instead of refusing people."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from donatello.core.database import create_engine
from donatello.models import ModelProvider
from tests.support.azure_openai_stub import AzureOpenAIStub, slow
from tests.support.ledger import committed_tenant
from tests.support.queued import ask as _ask
from tests.support.queued import azure_model
from tests.support.serving import serving_workers, until_completed

PROVIDER_SECONDS = 10.0


@pytest.fixture
async def slow_model(
    engine: AsyncEngine, postgres_url: str, azure_stub: AzureOpenAIStub
) -> AsyncIterator[ModelProvider]:
    async with azure_model(engine, postgres_url, azure_stub) as model:
        yield model


async def test_one_worker_finishes_a_hundred_ten_second_generations_together(
    app: FastAPI,
    engine: AsyncEngine,
    postgres_url: str,
    azure_stub: AzureOpenAIStub,
    slow_model: ModelProvider,
) -> None:
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with committed_tenant(engine, postgres_url, budget="50.00", members=10) as tenant:
        # ten people, ten images each, all asked before the worker starts
        ids = [await _ask(app, sessions, tenant.members[i % 10], slow_model, f"dawn {i}") for i in range(100)]
        azure_stub.reply(*(slow(PROVIDER_SECONDS) for _ in ids))

        # one worker on the test engine's pool: 5 connections + 10 overflow
        async with serving_workers(app, app.state.settings, [sessions]) as serving:
            # only a bound on the wait (a busy machine is slow): the claim is how many were in flight
            await until_completed(sessions, ids, serving, within=300)

    # 64 in flight at once (the default): two rounds of ten seconds, where one at a time would take 1000 s
    assert azure_stub.most_in_flight >= 50
    assert len(azure_stub.requests) == 100  # each generation asked for once


async def test_two_workers_together_keep_to_a_model_s_quota_and_nobody_is_refused(
    app: FastAPI, engine: AsyncEngine, postgres_url: str, azure_stub: AzureOpenAIStub
) -> None:
    """A quota of 120 a minute kept over 2-second windows (the setting, to keep the test short): at most
    4 calls in any 2 s — the same rule as 60 in any minute, 30 times faster."""
    settings = app.state.settings.model_copy(update={"generation_quota_window_seconds": 2.0})
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    other = create_engine(
        postgres_url, app_role=settings.database_app_role, pool_size=5
    )  # a second process's own pool
    async with (
        azure_model(engine, postgres_url, azure_stub, per_minute=120) as model,
        committed_tenant(engine, postgres_url, budget="50.00", members=2) as tenant,
    ):
        flooder, lone = tenant.members
        ids = [await _ask(app, sessions, flooder, model, f"batch {i}") for i in range(16)]
        ids.append(await _ask(app, sessions, lone, model, "one picture"))  # admitted, not refused: 17 > 4
        azure_stub.reply(*(slow(0.3) for _ in ids))

        workers = [sessions, async_sessionmaker(other, expire_on_commit=False)]
        async with serving_workers(app, settings, workers) as serving:
            await until_completed(sessions, ids, serving, within=60)
    await other.dispose()

    first_window = sorted(azure_stub.requests, key=lambda call: call.at)[:4]
    assert "one picture" in [call.json["prompt"] for call in first_window]  # its turn came at once
    arrivals = sorted(call.at for call in azure_stub.requests)
    busiest = max(sum(1 for t in arrivals if start <= t < start + 2.0) for start in arrivals)
    assert len(arrivals) == 17 and busiest <= 4, [round(t - arrivals[0], 3) for t in arrivals]
    # and the quota is used, not wasted: 17 calls at 4 per 2 s take a little over 8 s
    assert arrivals[-1] - arrivals[0] < 12

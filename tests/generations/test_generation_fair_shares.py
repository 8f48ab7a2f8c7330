"""The queue shares the workers between people: a big batch queued first cannot starve a single request."""

from __future__ import annotations

import uuid

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from donatello.generations.job import Job
from donatello.generations.processing import Processor
from donatello.models import ModelProvider
from donatello.providers import availability_for
from donatello.providers.credentials import ModelCredentials
from tests.support.azure_openai_stub import AzureOpenAIStub
from tests.support.ledger import committed_tenant
from tests.support.queued import ask as _ask
from tests.support.queued import azure_model


async def test_a_lone_request_queued_behind_someone_s_forty_is_claimed_second(
    app: FastAPI,
    engine: AsyncEngine,
    postgres_url: str,
    azure_stub: AzureOpenAIStub,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(app.state.settings, "rate_limit_user_per_minute", {"power_user": 60})
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with (
        azure_model(engine, postgres_url, azure_stub) as model,
        committed_tenant(engine, postgres_url, budget="50.00", members=3) as tenant,
    ):
        flooder, lone, latecomer = tenant.members
        flood = [await _ask(app, sessions, flooder, model, f"batch {i}") for i in range(40)]
        single = await _ask(app, sessions, lone, model, "one picture")
        third = await _ask(app, sessions, latecomer, model, "another picture")

        claimed = await _claim_all(app, sessions, model)

    assert claimed[:3] == [flood[0], single, third]  # people in turn: each one's first, then the rest
    assert claimed[3:] == flood[1:]  # the batch keeps its own order


async def _claim_all(
    app: FastAPI,
    sessions: async_sessionmaker[AsyncSession],
    model: ModelProvider,
) -> list[uuid.UUID]:
    """Claim every queued job, in the order the queue hands them out (nothing is sent to the model)."""
    settings = app.state.settings
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
        order = []
        while isinstance(job := await worker.claim(), Job):
            order.append(job.id)
    return order

"""Workers in parallel and workers that die: every job is processed once, charged once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from donatello.config import Settings
from donatello.core.database import set_tenant, transaction
from donatello.generations import admission
from donatello.generations.job import Job
from donatello.generations.processing import Processor
from donatello.generations.schemas import GenerationCreate
from donatello.models import CostEvent, Generation, ModelProvider, ProviderConfig, User
from donatello.providers import availability_for
from donatello.providers.credentials import ModelCredentials
from tests.support import provider_rows
from tests.support.azure_openai_stub import AzureOpenAIStub, slow, success_b64
from tests.support.ledger import committed_tenant, principal_of

DONATELLO = str(Path(sys.executable).with_name("donatello"))


@pytest.fixture
async def committed_model(engine: AsyncEngine, postgres_url: str) -> AsyncIterator[ModelProvider]:
    """A local model visible to every connection (the catalogue is platform-wide), removed afterwards."""
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with transaction(sessions, platform=True) as session:
        model = ModelProvider(
            provider_name="local",
            model_name=f"w-{uuid.uuid4().hex[:8]}",
            api_endpoint="local://pillow",
            cost_per_image_aud=Decimal("0.0500"),
        )
        session.add(model)
    yield model
    owner = create_async_engine(postgres_url)
    async with owner.begin() as connection:
        await connection.execute(text("DELETE FROM model_providers WHERE id = :id"), {"id": model.id})
    await owner.dispose()


def _admission(app: FastAPI) -> admission.Admission:
    state = app.state
    return admission.Admission(state.settings, state.sealer, state.rate_limiter, availability_for(None))


async def _request(
    app: FastAPI, sessions: async_sessionmaker[AsyncSession], member: User, model: ModelProvider, prompt: str
) -> uuid.UUID:
    body = GenerationCreate(
        prompt=prompt,
        model=f"{model.provider_name}/{model.model_name}",
        size="256x256" if model.provider_name == "local" else "1024x1024",
    )
    async with transaction(sessions) as session:
        await set_tenant(session, member.organization_id)
        return (await admission.request(session, principal_of(member), body, None, _admission(app))).id


async def test_parallel_workers_never_process_the_same_job(
    app: FastAPI, engine: AsyncEngine, postgres_url: str, committed_model: ModelProvider
) -> None:
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with committed_tenant(engine, postgres_url, budget="5.00", members=3) as tenant:
        for member in tenant.members:
            member.mfa_enabled = True
        ids = [
            await _request(app, sessions, tenant.members[i % 3], committed_model, f"job {i}")
            for i in range(12)
        ]
        processed: Counter[uuid.UUID] = Counter()

        class CountingProcessor(Processor):
            async def _process(self, job: Job) -> None:
                processed[job.id] += 1
                await super()._process(job)

        async with httpx.AsyncClient() as http:
            workers = [
                CountingProcessor(
                    sessions,
                    app.state.settings,
                    app.state.sealer,
                    app.state.image_store,
                    http,
                    availability_for(None),
                    credentials=ModelCredentials(app.state.settings),
                )
                for _ in range(4)
            ]

            async def drain(worker: Processor) -> None:
                while await worker.run_once():
                    pass

            await asyncio.gather(*(drain(w) for w in workers))

        assert sorted(processed) == sorted(ids) and set(processed.values()) == {1}
        async with transaction(sessions, platform=True) as session:
            statuses = (
                (await session.execute(select(Generation.status).where(Generation.id.in_(ids))))
                .scalars()
                .all()
            )
            charged = await session.scalar(select(func.count()).where(CostEvent.generation_id.in_(ids)))
        assert set(statuses) == {"completed"} and charged == 12


async def test_a_killed_worker_s_job_is_reclaimed_after_its_lease_and_charged_once(
    app: FastAPI,
    engine: AsyncEngine,
    postgres_url: str,
    settings: Settings,
    azure_stub: AzureOpenAIStub,
) -> None:
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with transaction(sessions, platform=True) as session:
        model = ModelProvider(
            provider_name="azure-openai",
            model_name=f"k-{uuid.uuid4().hex[:8]}",
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
                credential=provider_rows.TEST_CREDENTIAL,  # the stub's key, set by the azure_stub fixture
            )
        )
    try:
        async with committed_tenant(engine, postgres_url, budget="5.00") as tenant:
            member = tenant.members[0]
            member.mfa_enabled = True
            generation_id = await _request(app, sessions, member, model, "a job that outlives its worker")
            azure_stub.reply(slow(120))  # the first worker hangs on the provider

            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith("DONATELLO_")},
                "DONATELLO_DATABASE_URL": postgres_url,
                "DONATELLO_DATA_DIR": str(settings.data_dir),
                "DONATELLO_GENERATION_LEASE_SECONDS": "3",
            }
            doomed = subprocess.Popen(  # noqa: ASYNC220 - a process we kill, not wait on
                [DONATELLO, "worker", "--only", "generations"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    async with transaction(sessions, platform=True) as session:
                        row = await session.get(Generation, generation_id, populate_existing=True)
                        if row is not None and row.status == "processing":
                            break
                    await asyncio.sleep(0.2)
                else:
                    raise AssertionError("the worker never claimed the job")
                while not azure_stub.requests:  # noqa: ASYNC110 - it is inside the provider call
                    await asyncio.sleep(0.1)
                doomed.send_signal(signal.SIGKILL)
                doomed.wait(timeout=10)
            finally:
                if doomed.poll() is None:
                    doomed.kill()

            azure_stub.reset()
            azure_stub.reply(success_b64())
            async with httpx.AsyncClient(trust_env=False) as http:
                rescuer = Processor(
                    sessions,
                    app.state.settings,
                    app.state.sealer,
                    app.state.image_store,
                    http,
                    availability_for(None),
                    credentials=ModelCredentials(app.state.settings),
                )
                deadline = time.monotonic() + 30
                while not await rescuer.run_once():  # nothing to claim until the dead worker's lease lapses
                    assert time.monotonic() < deadline, "the lapsed lease was never reclaimed"
                    await asyncio.sleep(0.3)

            async with transaction(sessions, platform=True) as session:
                row = await session.get(Generation, generation_id, populate_existing=True)
                charges = await session.scalar(
                    select(func.count()).where(CostEvent.generation_id == generation_id)
                )
            assert row is not None and (row.status, row.attempts, charges) == ("completed", 2, 1)
    finally:
        owner = create_async_engine(postgres_url)
        async with owner.begin() as connection:
            await connection.execute(text("DELETE FROM model_providers WHERE id = :id"), {"id": model.id})
        await owner.dispose()

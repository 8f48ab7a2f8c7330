"""A waiting generation says where it stands: its place in the queue (fair shares, not first come) and
when it should start, from its model's quota; once a worker has it, neither."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from donatello.core.clock import utcnow
from donatello.core.database import create_sessionmaker
from donatello.generations.job import Job
from donatello.generations.processing import Processor
from donatello.generations.waiting import ASSUMED_SECONDS_PER_CALL
from donatello.providers import availability_for
from donatello.providers.credentials import ModelCredentials
from tests.support.azure_openai_stub import AzureOpenAIStub
from tests.support.ledger import committed_tenant
from tests.support.queued import ask, azure_model


@pytest.fixture
async def api(app: FastAPI, engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    """The API over a pool of its own (not a test's transaction): it reads what the test committed, as
    any request would."""
    app.state.sessionmaker = create_sessionmaker(engine)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def test_a_lone_request_behind_someone_s_forty_is_second_in_line_and_starts_first(
    app: FastAPI,
    engine: AsyncEngine,
    postgres_url: str,
    azure_stub: AzureOpenAIStub,
    api: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(app.state.settings, "rate_limit_user_per_minute", {"power_user": 60})
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    # 6 calls a minute: the model's window holds 6, so the 41st call waits six windows
    async with (
        azure_model(engine, postgres_url, azure_stub, per_minute=6) as model,
        committed_tenant(engine, postgres_url, budget="50.00", members=2) as tenant,
    ):
        flooder, lone = tenant.members
        flood = [await ask(app, sessions, flooder, model, f"batch {i}") for i in range(40)]
        single = await ask(app, sessions, lone, model, "one picture")
        asked_at = utcnow()

        async def read(member_index: int, generation_id: uuid.UUID) -> dict[str, Any]:
            member = tenant.members[member_index]
            token = app.state.token_signer.issue(member.id, member.organization_id)
            answer = await api.get(
                f"/v1/generations/{generation_id}", headers={"Authorization": f"Bearer {token}"}
            )
            assert answer.status_code == 200, answer.text
            return answer.json()

        lone_view = await read(1, single)
        first, second, last = await read(0, flood[0]), await read(0, flood[1]), await read(0, flood[39])

        # people take turns: the flooder's first, then the lone request, then the rest of the forty
        assert (first["queue_position"], lone_view["queue_position"]) == (1, 2)
        assert (second["queue_position"], last["queue_position"]) == (3, 41)
        # the lone request is among the window's six calls: it starts now; the flood's last waits six
        # windows behind the 40 calls ahead of it (6 a minute)
        lone_start = datetime.fromisoformat(lone_view["estimated_start_at"])
        last_start = datetime.fromisoformat(last["estimated_start_at"])
        assert (lone_start - asked_at).total_seconds() < 5
        assert 6 * 60 - 5 <= (last_start - asked_at).total_seconds() <= 6 * 60 + 5

        # the list shows the same places
        token = app.state.token_signer.issue(flooder.id, flooder.organization_id)
        listed = await api.get("/v1/generations?limit=5", headers={"Authorization": f"Bearer {token}"})
        places = [item["queue_position"] for item in listed.json()["items"]]
        assert places == [41, 40, 39, 38, 37]  # newest first: the flood's last five

        # a worker takes the flood's first: it is running, with no place and no estimate; the lone
        # request is next
        assert await _claim_one(app, sessions) == flood[0]
        running = await read(0, flood[0])
        assert (running["status"], running["queue_position"], running["estimated_start_at"]) == (
            "processing",
            None,
            None,
        )
        assert (await read(1, single))["queue_position"] == 1


async def _claim_one(app: FastAPI, sessions: async_sessionmaker[AsyncSession]) -> uuid.UUID:
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
        job = await worker.claim()
    assert isinstance(job, Job)
    return job.id


async def test_without_a_quota_the_estimate_follows_the_worker_slots(
    app: FastAPI,
    engine: AsyncEngine,
    postgres_url: str,
    azure_stub: AzureOpenAIStub,
    api: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two jobs in flight per worker (the setting), no worker seen yet (one assumed), no call of the model
    timed yet (``ASSUMED_SECONDS_PER_CALL`` each): two start now, then two a call later, then one more."""
    monkeypatch.setattr(app.state.settings, "generation_concurrency", 2)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with (
        azure_model(engine, postgres_url, azure_stub) as model,
        committed_tenant(engine, postgres_url, budget="50.00", members=1) as tenant,
    ):
        [member] = tenant.members
        ids = [await ask(app, sessions, member, model, f"tide {i}") for i in range(5)]
        asked_at = utcnow()
        token = app.state.token_signer.issue(member.id, member.organization_id)
        views = [
            (await api.get(f"/v1/generations/{i}", headers={"Authorization": f"Bearer {token}"})).json()
            for i in ids
        ]

    assert [view["queue_position"] for view in views] == [1, 2, 3, 4, 5]
    calls_later = [
        round((datetime.fromisoformat(view["estimated_start_at"]) - asked_at).total_seconds())
        / ASSUMED_SECONDS_PER_CALL
        for view in views
    ]
    assert [round(later) for later in calls_later] == [0, 0, 1, 1, 2]

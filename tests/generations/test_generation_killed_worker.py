"""A worker process killed mid-call (OOM, a node drained): the job is reclaimed after its lease and made
once, charged once, its hold held until then, and the call the provider may have billed is on record."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from donatello.audit import verification
from donatello.audit.relay import Relay
from donatello.budgets import invariants
from donatello.core.database import create_sessionmaker, transaction
from donatello.models import BudgetReservation, CostEvent, Generation, ModelProvider
from tests.support.azure_openai_stub import AzureOpenAIStub, slow
from tests.support.ledger import committed_tenant
from tests.support.queued import ask, azure_model
from tests.support.serving import serving_workers
from tests.support.worker_process import generation_worker

LEASE_SECONDS = 3


@pytest.fixture
async def api(app: FastAPI, engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    """The API over a pool of its own: it reads what the workers committed, as any request would."""
    app.state.sessionmaker = create_sessionmaker(engine)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
async def model(
    engine: AsyncEngine, postgres_url: str, azure_stub: AzureOpenAIStub
) -> AsyncIterator[ModelProvider]:
    async with azure_model(engine, postgres_url, azure_stub) as made:
        yield made


async def _until(check: Callable[[], Awaitable[bool]], what: str, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, f"not {what} within {within} s"
        await asyncio.sleep(0.1)


async def test_a_worker_killed_mid_call_costs_one_charge_and_leaves_the_lost_call_on_record(
    app: FastAPI,
    engine: AsyncEngine,
    postgres_url: str,
    azure_stub: AzureOpenAIStub,
    model: ModelProvider,
    api: httpx.AsyncClient,
) -> None:
    settings = app.state.settings
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    lease = {"generation_lease_seconds": str(LEASE_SECONDS)}
    async with committed_tenant(engine, postgres_url, budget="50.00") as tenant:
        member = tenant.members[0]
        generation_id = await ask(app, sessions, member, model, "a lighthouse at dusk")
        azure_stub.reply(slow(30), slow(0.2))  # the first answer would come long after the kill

        async def in_flight() -> bool:  # the request arrived; its answer is 30 s away
            return len(azure_stub.requests) == 1

        async def hold() -> str | None:
            async with transaction(sessions, platform=True) as session:
                return await session.scalar(
                    select(BudgetReservation.status).where(BudgetReservation.generation_id == generation_id)
                )

        with generation_worker(settings, postgres_url, **lease) as first:
            await _until(in_flight, "called")
            first.send_signal(signal.SIGKILL)  # as the OOM killer does: no clean-up of any kind
            first.wait(timeout=10)

        # the call is lost with its worker; the job waits for its lease to lapse, its hold still held
        assert await hold() == "held"
        killed_at = time.monotonic()
        with generation_worker(settings, postgres_url, **lease):

            async def completed() -> bool:
                async with transaction(sessions, platform=True) as session:
                    row = await session.get(Generation, generation_id)
                    return row is not None and row.status == "completed"

            await _until(completed, "completed after the reclaim")
        assert time.monotonic() - killed_at >= LEASE_SECONDS - 1  # reclaimed only once the lease lapsed

        token = app.state.token_signer.issue(member.id, member.organization_id)
        answer = await api.get(
            f"/v1/generations/{generation_id}", headers={"Authorization": f"Bearer {token}"}
        )
        assert answer.status_code == 200, answer.text
        shown = answer.json()

        async with transaction(sessions, platform=True) as session:
            charges = await session.scalar(
                select(func.count()).where(CostEvent.generation_id == generation_id)
            )
            reports = await invariants.check_all(session)
        while await Relay(sessions, None).pass_once():  # the outbox chained, as the relay does
            pass
        audit = await verification.run(settings, sessions, tenant.organization_id, None, None)
        held = await hold()

    assert shown["status"] == "completed" and not shown["saving"]
    assert len(azure_stub.requests) == 2  # asked twice: the first answer never reached anyone
    calls = shown["provider_calls"]
    assert [(c["outcome"], c["possibly_billed"]) for c in calls] == [("lost", True), ("answered", False)]
    assert calls[0]["started_at"] < calls[1]["started_at"]
    assert {c["model"] for c in calls} == {f"azure-openai/{model.model_name}"}
    assert charges == 1  # one cost event for the generation, whatever its calls
    assert held == "settled"
    assert [r.problems for r in reports if r.department_id == tenant.department.id] == [[]]
    assert audit.broken is None and audit.checked >= 2  # requested, completed: chained, unbroken


async def test_a_call_cancelled_mid_flight_is_abandoned_possibly_billed_and_nothing_is_charged(
    app: FastAPI,
    engine: AsyncEngine,
    postgres_url: str,
    azure_stub: AzureOpenAIStub,
    model: ModelProvider,
    api: httpx.AsyncClient,
) -> None:
    settings = app.state.settings.model_copy(update={"generation_lease_seconds": LEASE_SECONDS})
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with committed_tenant(engine, postgres_url, budget="50.00") as tenant:
        member = tenant.members[0]
        generation_id = await ask(app, sessions, member, model, "a lighthouse at dawn")
        azure_stub.reply(slow(30))
        headers = {
            "Authorization": f"Bearer {app.state.token_signer.issue(member.id, member.organization_id)}"
        }

        async def in_flight() -> bool:  # the request arrived; its answer is 30 s away
            return len(azure_stub.requests) == 1

        async def abandoned() -> bool:
            shown = (await api.get(f"/v1/generations/{generation_id}", headers=headers)).json()
            return [c["outcome"] for c in shown["provider_calls"]] == ["abandoned"]

        async with serving_workers(app, settings, [sessions]):
            await _until(in_flight, "called")
            cancelled = await api.post(f"/v1/generations/{generation_id}/cancel", headers=headers)
            assert cancelled.status_code == 200, cancelled.text
            await _until(abandoned, "abandoned by its worker")  # it notices at its next lease renewal
        shown = (await api.get(f"/v1/generations/{generation_id}", headers=headers)).json()
        async with transaction(sessions, platform=True) as session:
            charges = await session.scalar(
                select(func.count()).where(CostEvent.generation_id == generation_id)
            )

    assert shown["status"] == "cancelled" and shown["cost_aud"] == "0.0000"
    assert [(c["outcome"], c["possibly_billed"]) for c in shown["provider_calls"]] == [("abandoned", True)]
    assert charges == 0

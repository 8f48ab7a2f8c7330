"""A model that keeps failing is left alone: five failed calls in a row open its circuit (no call is made
to it), one trial call tests it once the circuit has been open a while, and a good trial closes it. The
state lives in PostgreSQL, so every worker process sees the same circuit and only one runs the trial."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from donatello.auth.tokens import TokenSigner
from donatello.core.database import transaction
from donatello.generations.processing import Processor
from donatello.models import ModelProvider, User
from donatello.providers import InProcessAvailability, circuit
from donatello.providers.availability import Watched
from donatello.providers.circuit import Circuits
from tests.support import factories, provider_rows
from tests.support import generation_world as gw
from tests.support.azure_openai_stub import AzureOpenAIStub, content_filter, server_error
from tests.support.signin import bearer_for

OPEN_SECONDS = 30.0


def later(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """Move the circuits' clock forward instead of waiting (the trial is due ``OPEN_SECONDS`` after)."""
    real = circuit.clock
    monkeypatch.setattr(circuit, "clock", lambda: real() + timedelta(seconds=seconds))


@pytest.fixture
async def super_admin(db: AsyncSession) -> User:
    org = await factories.organization(db)
    return await factories.user(db, org, role="super_admin", department=await factories.department(db, org))


async def watched_worker(app: FastAPI, db: AsyncSession, http: httpx.AsyncClient) -> Processor:
    """A worker as production builds it: circuit breakers in PostgreSQL (its own short transactions)."""
    worker = await gw.worker(app, db, http)
    worker.availability = Watched(
        InProcessAvailability(), Circuits(worker.sessions, open_seconds=OPEN_SECONDS)
    )
    return worker


async def failing_model(db: AsyncSession, stub: AzureOpenAIStub) -> ModelProvider:
    """An Azure deployment on the strict stub, first in priority, one call per generation (no retries);
    cheaper than the world's local model, so that one is never its fallback."""
    return await provider_rows.model(
        db,
        "azure-openai",
        price="0.0400",
        priority=1,
        endpoint=stub.endpoint(),
        max_retries=0,
        timeout_seconds=5,
    )


async def generate(
    client: httpx.AsyncClient, world: gw.World, model: str, worker: Processor
) -> dict[str, Any]:
    accepted = await client.post(
        "/v1/generations",
        json={"prompt": "a lyrebird mimicking a chainsaw", "model": model},
        headers=world.headers,
    )
    assert accepted.status_code == 202, accepted.text
    assert await worker.run_once()
    done = await client.get(f"/v1/generations/{accepted.json()['id']}", headers=world.headers)
    return done.json()


async def shown(
    client: httpx.AsyncClient, tokens: TokenSigner, admin: User, model: ModelProvider
) -> dict[str, Any]:
    response = await client.get(f"/v1/providers/{model.id}", headers=bearer_for(tokens, admin))
    assert response.status_code == 200, response.text
    return response.json()


async def test_five_failed_calls_open_the_circuit_and_one_good_trial_call_closes_it(
    client: httpx.AsyncClient,
    db: AsyncSession,
    app: FastAPI,
    http: httpx.AsyncClient,
    tokens: TokenSigner,
    azure_stub: AzureOpenAIStub,
    super_admin: User,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = await gw.world(db, tokens)
    azure = await failing_model(db, azure_stub)
    name = f"azure-openai/{azure.model_name}"
    worker = await watched_worker(app, db, http)
    azure_stub.reply(*[server_error(500) for _ in range(5)])

    for failed_so_far in range(1, 6):
        failed = await generate(client, world, name, worker)
        assert failed["status"] == "failed", failed
        assert len(azure_stub.requests) == failed_so_far
        circuit = (await shown(client, tokens, super_admin, azure))["health"]["circuit"]
        assert circuit["state"] == ("open" if failed_so_far == 5 else "closed")
        assert circuit["consecutive_failures"] == failed_so_far

    model = await shown(client, tokens, super_admin, azure)
    assert model["available"] is False and "circuit is open" in model["unavailable_reason"]
    assert model["health"]["calls"] == 5 and model["health"]["success_rate"] == 0.0

    # Open: no call at all. Naming it is refused; auto goes elsewhere.
    refused = await client.post(
        "/v1/generations", json={"prompt": "a lyrebird", "model": name}, headers=world.headers
    )
    assert refused.status_code == 503 and refused.json()["type"].endswith("/model-unavailable")
    assert "circuit is open after 5 failed calls in a row" in refused.json()["detail"]
    assert int(refused.headers["retry-after"]) >= 1
    elsewhere = await generate(client, world, "auto", worker)
    assert elsewhere["status"] == "completed" and elsewhere["model"] == f"local/{world.local.model_name}"
    assert len(azure_stub.requests) == 5

    later(monkeypatch, OPEN_SECONDS + 1)  # the stub has healed: its script is empty, it answers 200
    trial = await generate(client, world, name, worker)

    assert trial["status"] == "completed", trial
    assert len(azure_stub.requests) == 6
    healed = await shown(client, tokens, super_admin, azure)
    assert healed["available"] is True
    assert healed["health"]["circuit"] == {
        "state": "closed",
        "consecutive_failures": 0,
        "opened_at": None,
        "trial_after": None,
    }
    assert healed["health"]["calls"] == 6 and healed["health"]["success_rate"] == pytest.approx(16.67)
    assert healed["health"]["latency_p50_ms"] is not None
    again = await generate(client, world, name, worker)
    assert again["status"] == "completed" and len(azure_stub.requests) == 7


async def test_a_failed_trial_opens_the_circuit_again(
    client: httpx.AsyncClient,
    db: AsyncSession,
    app: FastAPI,
    http: httpx.AsyncClient,
    tokens: TokenSigner,
    azure_stub: AzureOpenAIStub,
    super_admin: User,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = await gw.world(db, tokens)
    azure = await failing_model(db, azure_stub)
    name = f"azure-openai/{azure.model_name}"
    worker = await watched_worker(app, db, http)
    azure_stub.reply(*[server_error(503) for _ in range(6)])
    for _ in range(5):
        await generate(client, world, name, worker)

    later(monkeypatch, OPEN_SECONDS + 1)
    trial = await generate(client, world, name, worker)

    assert trial["status"] == "failed" and len(azure_stub.requests) == 6
    circuit = (await shown(client, tokens, super_admin, azure))["health"]["circuit"]
    assert circuit["state"] == "open" and circuit["consecutive_failures"] == 6
    refused = await client.post(
        "/v1/generations", json={"prompt": "a lyrebird", "model": name}, headers=world.headers
    )
    assert refused.status_code == 503


@pytest.fixture
async def committed_model(engine: AsyncEngine, postgres_url: str) -> AsyncIterator[ModelProvider]:
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with transaction(sessions, platform=True) as session:
        model = ModelProvider(
            provider_name="azure-openai",
            model_name=f"circuit-{uuid.uuid4().hex[:8]}",
            api_endpoint="https://circuit.openai.azure.com/openai/deployments/flaky",
            cost_per_image_aud=Decimal("0.0800"),
        )
        session.add(model)
    yield model
    owner = create_async_engine(postgres_url)
    async with owner.begin() as connection:
        await connection.execute(text("DELETE FROM model_providers WHERE id = :id"), {"id": model.id})
    await owner.dispose()


async def test_of_many_workers_asking_at_once_exactly_one_gets_the_trial_call(
    engine: AsyncEngine, committed_model: ModelProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    circuits = Circuits(sessions, failures_to_open=5, open_seconds=OPEN_SECONDS)
    provider, model = committed_model.provider_name, committed_model.model_name
    for _ in range(5):
        await circuits.failed(provider, model, 0.5)
    assert await circuits.admit(provider, model) is False  # open, not yet due a trial

    later(monkeypatch, OPEN_SECONDS + 1)
    admitted = await asyncio.gather(*(circuits.admit(provider, model) for _ in range(12)))

    assert admitted.count(True) == 1
    assert await circuits.admit(provider, model) is False  # the trial is under way
    await circuits.succeeded(provider, model, 0.4)
    assert all(await asyncio.gather(*(circuits.admit(provider, model) for _ in range(4))))


async def test_jobs_admitted_before_the_circuit_opened_make_no_further_call(
    client: httpx.AsyncClient,
    db: AsyncSession,
    app: FastAPI,
    http: httpx.AsyncClient,
    tokens: TokenSigner,
    azure_stub: AzureOpenAIStub,
) -> None:
    world = await gw.world(db, tokens)
    azure = await failing_model(db, azure_stub)
    worker = await watched_worker(app, db, http)
    azure_stub.reply(*[server_error(500) for _ in range(7)])
    admitted = []
    for _ in range(7):  # all admitted while the circuit is closed
        accepted = await client.post(
            "/v1/generations",
            json={"prompt": "a lyrebird", "model": f"azure-openai/{azure.model_name}"},
            headers=world.headers,
        )
        assert accepted.status_code == 202, accepted.text
        admitted.append(accepted.json()["id"])

    while await worker.run_once():
        pass

    assert len(azure_stub.requests) == 5  # the sixth and seventh found the circuit open
    done = [(await client.get(f"/v1/generations/{i}", headers=world.headers)).json() for i in admitted]
    assert [g["status"] for g in done] == ["failed"] * 7
    assert all("circuit" not in g["error_message"] for g in done[:5])
    name = f"azure-openai/{azure.model_name}"
    assert [g["error_message"] for g in done[5:]] == [
        f"{name} cannot run: its circuit is open after 5 failed calls in a row; choose another model"
    ] * 2
    assert all(g["cost_aud"] == "0.0000" for g in done)


async def test_a_trial_the_model_answers_with_a_safety_refusal_still_closes_the_circuit(
    client: httpx.AsyncClient,
    db: AsyncSession,
    app: FastAPI,
    http: httpx.AsyncClient,
    tokens: TokenSigner,
    azure_stub: AzureOpenAIStub,
    super_admin: User,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = await gw.world(db, tokens)
    azure = await failing_model(db, azure_stub)
    name = f"azure-openai/{azure.model_name}"
    worker = await watched_worker(app, db, http)
    azure_stub.reply(*[server_error(500) for _ in range(5)], content_filter())
    for _ in range(5):
        await generate(client, world, name, worker)

    later(monkeypatch, OPEN_SECONDS + 1)
    refused = await generate(client, world, name, worker)

    assert refused["status"] == "failed" and refused["content_filter"] is not None
    assert len(azure_stub.requests) == 6
    circuit_shown = (await shown(client, tokens, super_admin, azure))["health"]["circuit"]
    assert (circuit_shown["state"], circuit_shown["consecutive_failures"]) == ("closed", 0)

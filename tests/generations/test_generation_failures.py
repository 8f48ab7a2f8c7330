"""When providers misbehave: retries, fallbacks, content filters and outages — never a wrong charge."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.auth.tokens import TokenSigner
from donatello.models import GenerationMetadata
from tests.support import generation_world as gw
from tests.support import provider_rows
from tests.support.azure_openai_stub import AzureOpenAIStub, content_filter, server_error, slow, success_b64

PROMPT = "a koala auditing the ledger"


@pytest.fixture
async def setup(db: AsyncSession, tokens: TokenSigner, azure_stub: AzureOpenAIStub) -> tuple[gw.World, str]:
    """A tenant whose first choice is Azure OpenAI (0.08) with the local model (0.05) as fallback."""
    world = await gw.world(db, tokens)
    azure = await provider_rows.model(
        db,
        "azure-openai",
        price="0.0800",
        priority=10,
        endpoint=azure_stub.endpoint(),
        timeout_seconds=1,
        max_retries=1,
    )
    return world, f"azure-openai/{azure.model_name}"


async def _run(
    client: httpx.AsyncClient,
    db: AsyncSession,
    app: FastAPI,
    http: httpx.AsyncClient,
    world: gw.World,
    model: str,
) -> dict[str, Any]:
    accepted = await client.post(
        "/v1/generations", json={"prompt": PROMPT, "model": model}, headers=world.headers
    )
    assert accepted.status_code == 202, accepted.text
    assert await (await gw.worker(app, db, http)).run_once()
    return (await client.get(f"/v1/generations/{accepted.json()['id']}", headers=world.headers)).json()


async def test_a_timeout_is_retried_then_the_fallback_succeeds_and_is_recorded(
    client: httpx.AsyncClient,
    db: AsyncSession,
    app: FastAPI,
    http: httpx.AsyncClient,
    azure_stub: AzureOpenAIStub,
    setup: tuple[gw.World, str],
) -> None:
    world, azure = setup
    azure_stub.reply(slow(3), slow(3))  # first try and its one retry both time out

    done = await _run(client, db, app, http, world, azure)

    assert done["status"] == "completed", done
    assert done["model_name"] == world.local.model_name and done["cost_aud"] == "0.0500"
    assert (done["requested_model"], done["model"], done["selection_reason"], done["fallback_from"]) == (
        azure,
        f"local/{world.local.model_name}",
        "requested",
        azure,
    )
    assert done["fallback_reason"].startswith(f"{azure}: ")
    assert len(azure_stub.requests) == 2
    metadata = (
        await db.execute(select(GenerationMetadata).where(GenerationMetadata.generation_id == done["id"]))
    ).scalar_one()
    assert metadata.fallback_model == f"local/{world.local.model_name}" and metadata.retry_count == 1
    assert await gw.spent(db, world.department) == (Decimal("0.0500"), Decimal(0))  # charged what ran


async def test_when_every_provider_fails_nothing_is_charged_and_the_hold_is_released(
    client: httpx.AsyncClient,
    db: AsyncSession,
    app: FastAPI,
    http: httpx.AsyncClient,
    azure_stub: AzureOpenAIStub,
    setup: tuple[gw.World, str],
) -> None:
    world, azure = setup
    world.local.is_active = False  # no fallback left
    await db.flush()
    azure_stub.reply(server_error(), server_error())

    done = await _run(client, db, app, http, world, azure)

    assert done["status"] == "failed" and "every eligible model failed" in done["error_message"]
    assert await gw.charges(db, world.department) == []
    assert await gw.spent(db, world.department) == (Decimal(0), Decimal(0))
    assert await gw.events(db, world.org) == ["generation.requested", "generation.failed"]


async def test_a_content_filter_refusal_fails_without_fallback_or_charge(
    client: httpx.AsyncClient,
    db: AsyncSession,
    app: FastAPI,
    http: httpx.AsyncClient,
    azure_stub: AzureOpenAIStub,
    setup: tuple[gw.World, str],
) -> None:
    world, azure = setup
    azure_stub.reply(content_filter("high"))

    done = await _run(client, db, app, http, world, azure)

    assert done["status"] == "failed" and "content filter" in done["error_message"]
    assert done["is_nsfw"] is True
    assert len(azure_stub.requests) == 1  # neither retried nor sent to another model
    assert await gw.charges(db, world.department) == []
    metadata = (
        await db.execute(select(GenerationMetadata).where(GenerationMetadata.generation_id == done["id"]))
    ).scalar_one()
    assert metadata.content_safety_score == "high"


async def test_a_successful_azure_generation_charges_its_own_price(
    client: httpx.AsyncClient,
    db: AsyncSession,
    app: FastAPI,
    http: httpx.AsyncClient,
    azure_stub: AzureOpenAIStub,
    setup: tuple[gw.World, str],
) -> None:
    world, azure = setup
    azure_stub.reply(success_b64())
    done = await _run(client, db, app, http, world, azure)
    assert (done["status"], done["cost_aud"], done["model_provider"]) == (
        "completed",
        "0.0800",
        "azure-openai",
    )

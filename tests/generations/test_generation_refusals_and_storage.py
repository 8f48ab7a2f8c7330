"""Two things a provider call must never cost twice or silently: a safety refusal is final, explained and
free; an image store that fails after the provider answered is retried without paying the provider again."""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import timedelta
from decimal import Decimal

import httpx
from fastapi import FastAPI
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.auth.tokens import TokenSigner
from donatello.core.clock import utcnow
from donatello.core.metrics import REGISTRY
from donatello.models import AuditOutbox, Generation
from tests.support import generation_world as gw
from tests.support import provider_rows
from tests.support.azure_openai_stub import AzureOpenAIStub, content_filter
from tests.support.failing_store import FailingStore

PROMPT = "a koala wrestling a crocodile at the quarterly review"


async def test_a_blocked_prompt_fails_once_with_its_reason_and_nothing_is_charged(
    client: httpx.AsyncClient,
    db: AsyncSession,
    app: FastAPI,
    http: httpx.AsyncClient,
    tokens: TokenSigner,
    azure_stub: AzureOpenAIStub,
) -> None:
    world = await gw.world(db, tokens)  # its local renderer would be a cheaper fallback
    gpt = await provider_rows.model(
        db,
        "azure-openai",
        price="0.0800",
        priority=1,
        endpoint=azure_stub.endpoint("gpt-image-1-mini"),
        configuration={"family": "gpt-image"},
    )
    azure_stub.reply(content_filter("high"))  # the safety system refuses the prompt (sexual: filtered)

    accepted = await client.post(
        "/v1/generations",
        json={"prompt": PROMPT, "model": f"azure-openai/{gpt.model_name}"},
        headers=world.headers,
    )
    assert accepted.status_code == 202, accepted.text
    assert await gw.spent(db, world.department) == (Decimal(0), Decimal("0.0800"))  # held while it runs
    assert await (await gw.worker(app, db, http)).run_once()
    done = (await client.get(f"/v1/generations/{accepted.json()['id']}", headers=world.headers)).json()

    assert len(azure_stub.requests) == 1  # not retried, not sent to the local fallback
    assert done["status"] == "failed" and done["model"] == f"azure-openai/{gpt.model_name}"
    assert done["content_filter"] == {"stage": "prompt", "categories": ["sexual"]}
    assert "content filter" in done["error_message"] and PROMPT not in done["error_message"]
    assert done["cost_aud"] == "0.0000"
    assert await gw.charges(db, world.department) == []
    assert await gw.spent(db, world.department) == (Decimal(0), Decimal(0))  # the hold is released
    [failed] = (
        await db.execute(
            select(AuditOutbox.payload).where(
                AuditOutbox.organization_id == world.org.id, AuditOutbox.event_type == "generation.failed"
            )
        )
    ).scalars()
    assert failed["metadata"]["content_filter"] == {"stage": "prompt", "categories": ["sexual"]}
    assert "koala" not in json.dumps(failed)  # the audit log never holds the prompt


async def test_a_generation_that_was_not_refused_shows_no_content_filter(
    client: httpx.AsyncClient, db: AsyncSession, app: FastAPI, http: httpx.AsyncClient, tokens: TokenSigner
) -> None:
    world = await gw.world(db, tokens)
    accepted = await client.post("/v1/generations", json={"prompt": "a calm sea"}, headers=world.headers)
    assert await (await gw.worker(app, db, http)).run_once()
    done = (await client.get(f"/v1/generations/{accepted.json()['id']}", headers=world.headers)).json()
    assert (done["status"], done["content_filter"]) == ("completed", None)


def _calls(model: str) -> float:
    """Successful calls the worker made to the local model (the provider metric)."""
    labels = {"provider": "local", "model": model, "outcome": "ok"}
    return REGISTRY.get_sample_value("donatello_provider_request_duration_seconds_count", labels) or 0.0


async def test_a_store_that_fails_once_is_retried_without_calling_the_provider_again(
    client: httpx.AsyncClient, db: AsyncSession, app: FastAPI, http: httpx.AsyncClient, tokens: TokenSigner
) -> None:
    world = await gw.world(db, tokens)
    store = FailingStore(app.state.image_store, failures=1)
    worker = dataclasses.replace(await gw.worker(app, db, http), store=store)
    before = _calls(world.local.model_name)

    accepted = await client.post("/v1/generations", json={"prompt": "a calm sea"}, headers=world.headers)
    assert await worker.run_once()
    done = (await client.get(f"/v1/generations/{accepted.json()['id']}", headers=world.headers)).json()

    assert store.refused == 1
    assert _calls(world.local.model_name) - before == 1
    assert done["status"] == "completed" and done["cost_aud"] == "0.0500"
    assert (await gw.fetch(client, done["image_urls"][0])).status_code == 200


async def test_a_store_down_until_a_later_attempt_still_pays_the_provider_once(
    client: httpx.AsyncClient, db: AsyncSession, app: FastAPI, http: httpx.AsyncClient, tokens: TokenSigner
) -> None:
    world = await gw.world(db, tokens)
    store = FailingStore(app.state.image_store, failures=10**6)
    worker = dataclasses.replace(await gw.worker(app, db, http), store=store)
    before = _calls(world.local.model_name)

    accepted = await client.post(
        "/v1/generations", json={"prompt": "a calm sea", "n": 2}, headers=world.headers
    )
    generation_id = uuid.UUID(accepted.json()["id"])
    assert await worker.run_once()  # the provider answers; every write of the images fails
    waiting = (await client.get(f"/v1/generations/{generation_id}", headers=world.headers)).json()
    assert waiting["status"] == "pending" and waiting["cost_aud"] == "0.0000"  # queued again, unpaid
    assert worker.kept.kept(generation_id) is not None  # the provider's answer is kept

    store.failures = 0  # the storage account is back; the retry's back-off has passed
    await db.execute(
        update(Generation)
        .where(Generation.id == generation_id)
        .values(next_attempt_at=utcnow() - timedelta(1))
    )
    assert await worker.run_once()
    done = (await client.get(f"/v1/generations/{generation_id}", headers=world.headers)).json()

    assert _calls(world.local.model_name) - before == 1  # one paid call in all
    assert done["status"] == "completed" and done["cost_aud"] == "0.1000"
    assert await gw.spent(db, world.department) == (Decimal("0.1000"), Decimal(0))
    assert [(await gw.fetch(client, url)).status_code for url in done["image_urls"]] == [200, 200]
    assert worker.kept.kept(generation_id) is None  # nothing left behind

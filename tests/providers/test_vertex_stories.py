"""Gemini on Vertex AI end to end: a platform admin registers gemini-2.5-flash-image through the API,
priced per token in USD; staff generate with it against the strict Vertex stub and are charged what its
usage says; its refusals reach them the way the product promises."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
from fastapi import FastAPI
from PIL import Image
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.auth.tokens import TokenSigner
from donatello.models import FxRate
from tests.support import factories
from tests.support import generation_world as gw
from tests.support.signin import bearer_for
from tests.support.vertex_stub import (
    CREDENTIAL,
    LOCATION,
    PROJECT,
    VertexStub,
    prompt_blocked,
    resource_exhausted,
)

RATE = Decimal("1.52000000")  # AUD per USD
#: Gemini 2.5 Flash Image's list prices per million tokens (USD)
TOKEN_PRICES = {"input_text": "0.30", "input_image": "0.30", "output_image": "30.00"}
MODEL = "gemini-2.5-flash-image"
NAME = f"google-vertex/{MODEL}"


async def register_gemini(
    client: httpx.AsyncClient,
    db: AsyncSession,
    tokens: TokenSigner,
    stub: VertexStub,
    priority: int = 1,
    retries: int = 0,
) -> tuple[dict[str, Any], dict[str, str]]:
    db.add(FxRate(base_currency="USD", rate=RATE, source="RBA", effective_date=date(2026, 11, 2)))
    org = await factories.organization(db)
    admin = await factories.user(db, org, role="super_admin", department=await factories.department(db, org))
    headers = bearer_for(tokens, admin)
    created = await client.post(
        "/v1/providers",
        json={
            "provider_name": "google-vertex",
            "model_name": MODEL,
            "api_endpoint": stub.endpoint,
            "pricing_unit": "token",
            "pricing_currency": "USD",
            "token_prices": TOKEN_PRICES,
            "priority": priority,
            "timeout_seconds": 10,
            "config": {
                "max_retries": retries,
                "configuration": {"project": PROJECT, "location": LOCATION},
                "credential": CREDENTIAL,
            },
        },
        headers=headers,
    )
    assert created.status_code == 201, created.text
    return created.json(), headers


async def generate(client: httpx.AsyncClient, world: gw.World, worker: Any, **body: Any) -> dict[str, Any]:
    accepted = await client.post("/v1/generations", json=body, headers=world.headers)
    assert accepted.status_code == 202, accepted.text
    assert await worker.run_once()
    done = await client.get(f"/v1/generations/{accepted.json()['id']}", headers=world.headers)
    return done.json()


async def test_gemini_registered_through_the_api_is_charged_its_image_tokens(
    client: httpx.AsyncClient,
    app: FastAPI,
    db: AsyncSession,
    http: httpx.AsyncClient,
    tokens: TokenSigner,
    vertex: VertexStub,
) -> None:
    world = await gw.world(db, tokens)
    model, _ = await register_gemini(client, db, tokens, vertex)
    assert model["config"]["credential_kind"] == "google-service-account" and "PRIVATE" not in str(model)

    done = await generate(
        client, world, await gw.worker(app, db, http),
        prompt="a lyrebird on a fence post", size="1536x1024", seed=31337, model=NAME,
    )  # fmt: skip

    assert done["status"] == "completed", done
    [call] = vertex.requests
    assert call.json["generationConfig"] == {
        "responseModalities": ["IMAGE"],
        "imageConfig": {"aspectRatio": "3:2"},
        "seed": 31337,
    }
    [url] = done["image_urls"]
    stored = await gw.fetch(client, url)
    assert Image.open(io.BytesIO(stored.content)).size == (1248, 832)
    # the stub bills len("a lyrebird on a fence post") // 4 = 6 text tokens and 1290 image tokens:
    # USD (6 x 0.30 + 1290 x 30) / 1e6 = 0.0387018 x 1.52 = 0.05882673 AUD -> 0.0588
    assert done["usage"] == {"input_text_tokens": 6, "input_image_tokens": 0, "output_image_tokens": 1290}
    assert (done["cost_aud"], done["charge_basis"]) == ("0.0588", "usage")
    assert Decimal(done["reserved_aud"]) >= Decimal("0.0588")  # held at the most it could cost
    [charge] = await gw.charges(db, world.department)
    assert charge.actual_cost_aud == Decimal("0.0588") and charge.fx_rate == RATE


async def test_a_negative_prompt_naming_gemini_is_a_422_and_auto_chooses_a_model_that_takes_one(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner, vertex: VertexStub
) -> None:
    world = await gw.world(db, tokens)
    await register_gemini(client, db, tokens, vertex, priority=1)  # auto's first choice by priority

    named = await client.post(
        "/v1/generations",
        json={"prompt": "a lyrebird", "negative_prompt": "cages", "model": NAME},
        headers=world.headers,
    )
    auto = await client.post(
        "/v1/generations", json={"prompt": "a lyrebird", "negative_prompt": "cages"}, headers=world.headers
    )
    plain = await client.post("/v1/generations", json={"prompt": "a lyrebird"}, headers=world.headers)

    assert named.status_code == 422 and named.headers["content-type"] == "application/problem+json"
    problem = named.json()
    assert problem["type"].endswith("/unsupported-option") and problem["field"] == "negative_prompt"
    assert problem["detail"].startswith(f"{NAME} takes no negative prompt")
    assert auto.status_code == 202 and auto.json()["model"] == f"local/{world.local.model_name}"
    assert plain.status_code == 202 and plain.json()["model"] == NAME
    assert await gw.count_generations(db, world.org) == 2
    assert vertex.requests == []


async def test_a_prompt_gemini_blocks_fails_once_with_no_fallback_and_no_charge(
    client: httpx.AsyncClient,
    app: FastAPI,
    db: AsyncSession,
    http: httpx.AsyncClient,
    tokens: TokenSigner,
    vertex: VertexStub,
) -> None:
    world = await gw.world(db, tokens)  # its local model is cheaper: a fallback it may not take
    await register_gemini(client, db, tokens, vertex)
    vertex.reply(prompt_blocked())

    done = await generate(client, world, await gw.worker(app, db, http), prompt="refused", model=NAME)

    assert done["status"] == "failed"
    assert done["content_filter"] == {"stage": "prompt", "categories": ["sexual"]}
    assert done["is_nsfw"] is True and done["fallback_from"] is None and done["model"] == NAME
    assert len(vertex.requests) == 1 and done["image_urls"] == []
    assert done["cost_aud"] == "0.0000" and await gw.charges(db, world.department) == []


async def test_a_service_account_google_no_longer_knows_makes_the_model_unavailable_with_the_reason(
    client: httpx.AsyncClient,
    app: FastAPI,
    db: AsyncSession,
    http: httpx.AsyncClient,
    tokens: TokenSigner,
    vertex: VertexStub,
) -> None:
    world = await gw.world(db, tokens)
    model, admin = await register_gemini(client, db, tokens, vertex)
    vertex.accounts.clear()  # the service account (or its key) was deleted

    done = await generate(client, world, await gw.worker(app, db, http), prompt="harbour", model=NAME)

    assert vertex.requests == []  # no call without a token
    assert done["status"] == "completed" and done["model"] == f"local/{world.local.model_name}"
    shown = (await client.get(f"/v1/providers/{model['id']}", headers=admin)).json()
    assert shown["available"] is False
    assert shown["unavailable_reason"] == (
        "its credential could not be obtained: Google refused to grant its service account a token"
    )
    assert "invalid_grant" in shown["last_error"] and "PRIVATE KEY" not in str(shown)
    refused = await client.post(
        "/v1/generations", json={"prompt": "again", "model": NAME}, headers=world.headers
    )
    assert refused.status_code == 503 and refused.json()["type"].endswith("/model-cannot-run")


async def test_resource_exhausted_is_tried_again_and_only_the_call_that_made_the_image_is_charged(
    client: httpx.AsyncClient,
    app: FastAPI,
    db: AsyncSession,
    http: httpx.AsyncClient,
    tokens: TokenSigner,
    vertex: VertexStub,
) -> None:
    world = await gw.world(db, tokens)
    await register_gemini(client, db, tokens, vertex, retries=2)
    vertex.reply(resource_exhausted())

    world.local.is_active = False  # no fallback: the job waits for this deployment
    await db.flush()
    worker = await gw.worker(app, db, http)
    waiting = await generate(client, world, worker, prompt="a lyrebird on a fence post", model=NAME)
    # Exhausted: the deployment cools down for every worker and the job waits in the queue.
    assert waiting["status"] == "pending" and len(vertex.requests) == 1
    await gw.let_cool_down_pass(db)
    assert await worker.run_once()
    done = (await client.get(f"/v1/generations/{waiting['id']}", headers=world.headers)).json()

    assert done["status"] == "completed" and len(vertex.requests) == 2
    assert done["usage"]["output_image_tokens"] == 1290 and done["cost_aud"] == "0.0588"
    assert len(vertex.grants) == 1  # the token outlived the retry

"""Amazon Bedrock end to end: a platform admin registers Nova Canvas through the API, staff generate with
it against the strict Bedrock stub, and its refusals reach them the way the product promises."""

from __future__ import annotations

import io
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from PIL import Image
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.auth.tokens import TokenSigner
from tests.support import factories
from tests.support import generation_world as gw
from tests.support.bedrock_stub import CREDENTIAL, SECRET_VARIABLE, BedrockStub, prompt_blocked, throttled
from tests.support.signin import bearer_for


async def register_nova_canvas(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner, stub: BedrockStub, retries: int = 0
) -> tuple[dict[str, Any], dict[str, str]]:
    """Nova Canvas as a super admin registers it: AUD 0.0600 per image, keys from the environment."""
    org = await factories.organization(db)
    admin = await factories.user(db, org, role="super_admin", department=await factories.department(db, org))
    headers = bearer_for(tokens, admin)
    created = await client.post(
        "/v1/providers",
        json={
            "provider_name": "aws-bedrock",
            "model_name": f"nova-canvas-{uuid.uuid4().hex[:6]}",
            "api_endpoint": stub.endpoint,
            "cost_per_image_aud": "0.0600",
            "priority": 1,
            "timeout_seconds": 10,
            "config": {
                "max_retries": retries,
                "configuration": {"model_id": "amazon.nova-canvas-v1:0", "region": stub.region},
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


async def test_nova_canvas_registered_through_the_api_makes_stored_images_charged_at_its_price(
    client: httpx.AsyncClient,
    app: FastAPI,
    db: AsyncSession,
    http: httpx.AsyncClient,
    tokens: TokenSigner,
    bedrock: BedrockStub,
) -> None:
    world = await gw.world(db, tokens)
    model, _ = await register_nova_canvas(client, db, tokens, bedrock)
    assert model["config"]["credential_kind"] == "aws-keys" and "BEDROCK" not in str(model)

    done = await generate(
        client, world, await gw.worker(app, db, http),
        prompt="a kelpie herding ducks", negative_prompt="sheep", seed=4242, n=2,
        model=f"aws-bedrock/{model['model_name']}",
    )  # fmt: skip

    assert done["status"] == "completed", done
    assert done["model"] == f"aws-bedrock/{model['model_name']}" and done["fallback_from"] is None
    [call] = bedrock.requests  # two images in one signed call
    assert call.json["textToImageParams"] == {"text": "a kelpie herding ducks", "negativeText": "sheep"}
    assert call.json["imageGenerationConfig"]["seed"] == 4242
    assert len(done["image_urls"]) == 2
    for url in done["image_urls"]:
        stored = await gw.fetch(client, url)
        assert stored.status_code == 200
        assert Image.open(io.BytesIO(stored.content)).size == (1024, 1024)
    assert (done["cost_aud"], done["charge_basis"], done["usage"]) == ("0.1200", "per-image", None)
    [charge] = await gw.charges(db, world.department)
    assert str(charge.actual_cost_aud) == "0.1200"


async def test_a_prompt_nova_canvas_blocks_fails_once_with_no_fallback_and_no_charge(
    client: httpx.AsyncClient,
    app: FastAPI,
    db: AsyncSession,
    http: httpx.AsyncClient,
    tokens: TokenSigner,
    bedrock: BedrockStub,
) -> None:
    world = await gw.world(db, tokens)  # its local model is cheaper: a fallback it may not take
    model, _ = await register_nova_canvas(client, db, tokens, bedrock)
    bedrock.reply(prompt_blocked())

    done = await generate(
        client, world, await gw.worker(app, db, http),
        prompt="something the filter refuses", model=f"aws-bedrock/{model['model_name']}",
    )  # fmt: skip

    assert done["status"] == "failed"
    assert done["content_filter"] == {"stage": "prompt", "categories": ["content_filter"]}
    assert len(bedrock.requests) == 1 and done["fallback_from"] is None
    assert done["model"] == f"aws-bedrock/{model['model_name']}" and done["image_urls"] == []
    assert done["cost_aud"] == "0.0000" and await gw.charges(db, world.department) == []


async def test_a_secret_bedrock_refuses_makes_the_model_unavailable_with_the_reason(
    client: httpx.AsyncClient,
    app: FastAPI,
    db: AsyncSession,
    http: httpx.AsyncClient,
    tokens: TokenSigner,
    bedrock: BedrockStub,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = await gw.world(db, tokens)
    model, admin = await register_nova_canvas(client, db, tokens, bedrock)
    monkeypatch.setenv(SECRET_VARIABLE, "a-rotated-away-secret")
    name = f"aws-bedrock/{model['model_name']}"

    done = await generate(client, world, await gw.worker(app, db, http), prompt="harbour", model=name)

    assert len(bedrock.requests) == 1  # called once, refused, never again
    assert done["status"] == "completed" and done["model"] == f"local/{world.local.model_name}"
    shown = (await client.get(f"/v1/providers/{model['id']}", headers=admin)).json()
    assert shown["available"] is False
    assert shown["unavailable_reason"] == "the provider denied its credential access to the model (HTTP 403)"
    assert "InvalidSignatureException" in shown["last_error"]
    assert "a-rotated-away-secret" not in str(shown)
    refused = await client.post(
        "/v1/generations", json={"prompt": "again", "model": name}, headers=world.headers
    )
    assert refused.status_code == 503 and refused.json()["type"].endswith("/model-cannot-run")
    assert len(bedrock.requests) == 1


async def test_a_throttled_call_is_tried_again_and_the_images_are_charged_once(
    client: httpx.AsyncClient,
    app: FastAPI,
    db: AsyncSession,
    http: httpx.AsyncClient,
    tokens: TokenSigner,
    bedrock: BedrockStub,
) -> None:
    world = await gw.world(db, tokens)
    model, _ = await register_nova_canvas(client, db, tokens, bedrock, retries=2)
    bedrock.reply(throttled(retry_after="1"))

    world.local.is_active = False  # no fallback: the job waits for this deployment
    await db.flush()
    worker = await gw.worker(app, db, http)
    waiting = await generate(
        client, world, worker, prompt="harbour", model=f"aws-bedrock/{model['model_name']}"
    )
    # Throttled: the deployment cools down for every worker and the job waits in the queue.
    assert waiting["status"] == "pending" and len(bedrock.requests) == 1
    await gw.let_cool_down_pass(db)
    assert await worker.run_once()
    done = (await client.get(f"/v1/generations/{waiting['id']}", headers=world.headers)).json()

    assert done["status"] == "completed" and len(done["image_urls"]) == 1
    assert len(bedrock.requests) == 2  # throttled, then made
    assert done["cost_aud"] == "0.0600" and len(await gw.charges(db, world.department)) == 1

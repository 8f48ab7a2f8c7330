"""OpenAI's own images API as a second vendor: a platform admin registers gpt-image-1.5 through the API, a
member generates with it and is charged from OpenAI's usage; a safety refusal is final; a refused key makes
the model unavailable with a reason — all against the strict loopback stub of the service."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from decimal import Decimal
from io import BytesIO
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from PIL import Image
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.auth.tokens import TokenSigner
from donatello.generations.processing import Processor
from donatello.models import User
from donatello.providers.contract import ApiKeyHeader, ImageRequest, ProviderTarget
from donatello.providers.errors import ProviderMisconfigured, ProviderRateLimited
from donatello.providers.openai_images import OpenAIProvider
from tests.support import factories, provider_rows
from tests.support import generation_world as gw
from tests.support.openai_images_stub import STUB_KEY, OpenAIImagesStub, moderation_blocked, rate_limited
from tests.support.signin import bearer_for

PROMPT, NEGATIVE = "A lighthouse at dawn, oil on canvas", "text, watermark"
KEY_VARIABLE = "OPENAI_TEST_KEY"
TOKEN_PRICES = {"input_text": "7.60", "input_image": "12.16", "output_image": "48.64"}  # AUD per million


@pytest.fixture(scope="module")
def openai_server() -> Iterator[OpenAIImagesStub]:
    stub = OpenAIImagesStub()
    stub.server.start()
    try:
        yield stub
    finally:
        stub.server.stop()


@pytest.fixture
def openai_stub(openai_server: OpenAIImagesStub, monkeypatch: pytest.MonkeyPatch) -> OpenAIImagesStub:
    openai_server.reset()
    monkeypatch.setenv(KEY_VARIABLE, STUB_KEY)
    return openai_server


@pytest.fixture
async def super_admin(db: AsyncSession) -> User:
    org = await factories.organization(db)
    return await factories.user(db, org, role="super_admin", department=await factories.department(db, org))


async def _generate(
    client: httpx.AsyncClient, world: gw.World, worker: Processor, **body: object
) -> dict[str, Any]:
    accepted = await client.post("/v1/generations", json={"prompt": PROMPT, **body}, headers=world.headers)
    assert accepted.status_code == 202, accepted.text
    assert await worker.run_once()
    done = await client.get(f"/v1/generations/{accepted.json()['id']}", headers=world.headers)
    return done.json()


async def test_a_model_registered_through_the_api_generates_stores_and_is_charged_from_openais_usage(
    client: httpx.AsyncClient,
    db: AsyncSession,
    app: FastAPI,
    http: httpx.AsyncClient,
    tokens: TokenSigner,
    openai_stub: OpenAIImagesStub,
    super_admin: User,
) -> None:
    world = await gw.world(db, tokens)
    openai_stub.require_headers = True  # the key belongs to this organization and project
    created = await client.post(
        "/v1/providers",
        json={
            "provider_name": "openai",
            "model_name": "gpt-image-1.5",
            "api_endpoint": openai_stub.base_url,
            "pricing_unit": "token",
            "token_prices": TOKEN_PRICES,
            "priority": 1,
            "config": {
                "max_retries": 0,
                "configuration": {
                    "organization": openai_stub.organization,
                    "project": openai_stub.project,
                    "output_format": "webp",
                },
                "credential": {"kind": "environment", "variable": KEY_VARIABLE},
            },
        },
        headers=bearer_for(tokens, super_admin),
    )
    assert created.status_code == 201, created.text

    done = await _generate(
        client,
        world,
        await gw.worker(app, db, http),
        negative_prompt=NEGATIVE,
        model="openai/gpt-image-1.5",
        size="1536x1024",
        quality="hd",
        n=2,
    )

    [sent] = openai_stub.requests  # both images in one call
    assert sent.path == "/v1/images/generations"
    assert sent.headers["authorization"] == f"Bearer {STUB_KEY}" and "api-key" not in sent.headers
    assert sent.headers["openai-organization"] == openai_stub.organization
    assert sent.headers["openai-project"] == openai_stub.project
    assert {k: sent.json[k] for k in ("model", "n", "size", "quality", "output_format")} == {
        "model": "gpt-image-1.5",
        "n": 2,
        "size": "1536x1024",
        "quality": "high",
        "output_format": "webp",
    }
    assert sent.json["prompt"] == f"{PROMPT}\n\nAvoid: {NEGATIVE}"  # no negative prompt: said in words
    assert done["status"] == "completed" and done["model"] == "openai/gpt-image-1.5"
    # billed 59 // 4 = 14 text tokens and 2 x 6208 output tokens:
    # (14 x 7.60 + 12416 x 48.64) / 1e6 = 0.60402064 AUD -> 0.6040
    assert done["usage"] == {"input_text_tokens": 14, "input_image_tokens": 0, "output_image_tokens": 12416}
    assert (done["cost_aud"], done["charge_basis"]) == ("0.6040", "usage")
    stored = [await gw.fetch(client, url) for url in done["image_urls"]]
    assert [r.status_code for r in stored] == [200, 200]
    assert all(Image.open(BytesIO(r.content)).format == "PNG" for r in stored)  # webp kept as PNG
    [charge] = await gw.charges(db, world.department)
    assert charge.actual_cost_aud == Decimal("0.6040")
    assert await gw.spent(db, world.department) == (Decimal("0.6040"), Decimal(0))


async def test_a_prompt_openai_refuses_for_safety_fails_once_without_fallback_and_costs_nothing(
    client: httpx.AsyncClient,
    db: AsyncSession,
    app: FastAPI,
    http: httpx.AsyncClient,
    tokens: TokenSigner,
    openai_stub: OpenAIImagesStub,
) -> None:
    world = await gw.world(db, tokens)  # its local model is a cheaper fallback that is never tried
    model = await provider_rows.model(
        db,
        "openai",
        name="gpt-image-1",
        price="0.0800",
        priority=1,
        endpoint=openai_stub.base_url,
        credential={"kind": "environment", "variable": KEY_VARIABLE},
    )
    openai_stub.reply(moderation_blocked("sexual"))

    done = await _generate(client, world, await gw.worker(app, db, http), model=f"openai/{model.model_name}")

    assert len(openai_stub.requests) == 1  # not retried, not sent to the local model
    assert (done["status"], done["model"], done["fallback_from"]) == ("failed", "openai/gpt-image-1", None)
    assert done["content_filter"] == {"stage": "prompt", "categories": ["sexual"]}
    assert PROMPT not in done["error_message"]
    assert done["cost_aud"] == "0.0000" and await gw.charges(db, world.department) == []
    assert await gw.spent(db, world.department) == (Decimal(0), Decimal(0))


async def test_a_key_openai_refuses_makes_the_model_unavailable_with_a_reason_and_never_shows_the_key(
    client: httpx.AsyncClient,
    db: AsyncSession,
    app: FastAPI,
    http: httpx.AsyncClient,
    tokens: TokenSigner,
    openai_stub: OpenAIImagesStub,
    super_admin: User,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    wrong = "sk-proj-revoked-key-0000WXYZ"
    monkeypatch.setenv(KEY_VARIABLE, wrong)
    world = await gw.world(db, tokens)
    model = await provider_rows.model(
        db,
        "openai",
        name=f"gpt-image-1-mini-{uuid.uuid4().hex[:4]}",
        price="0.0800",
        priority=1,
        endpoint=openai_stub.base_url,
        max_retries=0,
        configuration={"model": "gpt-image-1-mini"},
        credential={"kind": "environment", "variable": KEY_VARIABLE},
    )
    name = f"openai/{model.model_name}"
    worker = await gw.worker(app, db, http)

    first = await _generate(client, world, worker)  # platform priority tries OpenAI first
    second = await _generate(client, world, worker)

    assert len(openai_stub.requests) == 1  # tried once, never again
    assert first["status"] == "completed" and first["fallback_from"] == name
    assert second["model"] == f"local/{world.local.model_name}" and second["fallback_from"] is None
    shown = (await client.get(f"/v1/providers/{model.id}", headers=bearer_for(tokens, super_admin))).json()
    assert shown["available"] is False
    assert shown["unavailable_reason"] == "the provider refused its credential (HTTP 401)"
    assert "invalid_api_key" in shown["last_error"]
    assert "WXYZ" not in str(shown) and "revoked" not in str(shown)  # OpenAI echoes the key masked: cut out
    refused = await client.post(
        "/v1/generations", json={"prompt": PROMPT, "model": name}, headers=world.headers
    )
    assert refused.status_code == 503 and refused.json()["type"].endswith("/model-cannot-run")
    assert "refused its credential" in refused.json()["detail"]


async def test_a_rate_limited_call_is_retryable_after_the_wait_openai_names(
    http: httpx.AsyncClient, openai_stub: OpenAIImagesStub
) -> None:
    openai_stub.reply(rate_limited(retry_after="7"))
    target = _target(openai_stub)
    request = ImageRequest(PROMPT, None, "1024x1024", "low", None, 1, None)

    with pytest.raises(ProviderRateLimited) as raised:
        await OpenAIProvider(http).generate(target, request)

    assert raised.value.retryable and raised.value.retry_after_seconds == 7.0
    assert raised.value.status_code == 429
    result = await OpenAIProvider(http).generate(target, request)  # the next call goes through
    assert len(result.images) == 1 and result.usage is not None and result.usage.output_image_tokens == 272


async def test_a_managed_identity_or_an_unknown_model_is_a_misconfiguration_the_vendor_names(
    http: httpx.AsyncClient, openai_stub: OpenAIImagesStub
) -> None:
    request = ImageRequest(PROMPT, None, "1024x1024", "low", None, 1, None)
    entra = dataclasses.replace(_target(openai_stub), credential=_EntraToken())
    with pytest.raises(ProviderMisconfigured) as no_key:
        await OpenAIProvider(http).generate(entra, request)
    assert "not an Entra token" in no_key.value.reason and openai_stub.requests == []

    unknown = dataclasses.replace(_target(openai_stub), configuration={"model": "gpt-image-9"})
    with pytest.raises(ProviderMisconfigured) as missing:
        await OpenAIProvider(http).generate(unknown, request)
    assert missing.value.status_code == 404 and "model_not_found" in missing.value.reason


class _EntraToken:
    kind = "managed-identity"

    async def headers(self) -> dict[str, str]:
        return {"Authorization": "Bearer an-entra-token"}


def _target(stub: OpenAIImagesStub) -> ProviderTarget:
    return ProviderTarget(
        provider="openai",
        model="gpt-image-1.5",
        endpoint=stub.base_url,
        timeout_seconds=5,
        max_retries=0,
        credential=ApiKeyHeader(STUB_KEY, kind="environment"),
    )

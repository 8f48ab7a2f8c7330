"""FLUX on Azure AI Foundry as a vendor: FLUX.2-pro registered through the API makes images of any size in
multiples of 16 with a real seed, charged per image; a size outside its bounds or a negative prompt it
cannot take is a clear 422; a moderated prompt is final; a refused key makes the model unavailable;
FLUX.1-Kontext-pro answers on the OpenAI-compatible images route — against the strict loopback stub."""

from __future__ import annotations

import hashlib
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
from donatello.config import Settings
from donatello.models import ModelProvider, User
from donatello.providers.contract import ApiKeyHeader, ImageRequest, ProviderTarget
from donatello.providers.errors import ContentFiltered, ProviderMisconfigured, ProviderRejected
from donatello.providers.flux_foundry import FluxFoundryProvider
from tests.support import factories, provider_rows, token_endpoint
from tests.support import generation_world as gw
from tests.support import model_credentials as mc
from tests.support.flux_foundry_stub import STUB_KEY, FluxFoundryStub, content_moderated, request_moderated
from tests.support.signin import bearer_for

PROMPT = "A red fox in an autumn forest, photograph"
KEY_VARIABLE = "FOUNDRY_TEST_KEY"
CREDENTIAL = {"kind": "environment", "variable": KEY_VARIABLE}


@pytest.fixture(scope="module")
def foundry_server() -> Iterator[FluxFoundryStub]:
    stub = FluxFoundryStub()
    stub.server.start()
    try:
        yield stub
    finally:
        stub.server.stop()


@pytest.fixture
def foundry(foundry_server: FluxFoundryStub, monkeypatch: pytest.MonkeyPatch) -> FluxFoundryStub:
    foundry_server.reset()
    monkeypatch.setenv(KEY_VARIABLE, STUB_KEY)
    return foundry_server


@pytest.fixture
async def super_admin(db: AsyncSession) -> User:
    org = await factories.organization(db)
    return await factories.user(db, org, role="super_admin", department=await factories.department(db, org))


async def _flux(
    db: AsyncSession, foundry: FluxFoundryStub, name: str = "FLUX.2-pro", **options: Any
) -> ModelProvider:
    return await provider_rows.model(
        db,
        "azure-foundry",
        name=name,
        price="0.0800",
        priority=1,
        endpoint=foundry.base_url,
        max_retries=0,
        **{"credential": CREDENTIAL, **options},
    )


async def _generate(
    client: httpx.AsyncClient, world: gw.World, worker: Any, **body: object
) -> dict[str, Any]:
    accepted = await client.post("/v1/generations", json={"prompt": PROMPT, **body}, headers=world.headers)
    assert accepted.status_code == 202, accepted.text
    assert await worker.run_once()
    done = await client.get(f"/v1/generations/{accepted.json()['id']}", headers=world.headers)
    return done.json()


async def test_flux_2_pro_registered_through_the_api_makes_a_free_size_with_its_seed_charged_per_image(
    client: httpx.AsyncClient,
    db: AsyncSession,
    app: FastAPI,
    http: httpx.AsyncClient,
    tokens: TokenSigner,
    foundry: FluxFoundryStub,
    super_admin: User,
) -> None:
    world = await gw.world(db, tokens)
    created = await client.post(
        "/v1/providers",
        json={
            "provider_name": "azure-foundry",
            "model_name": "FLUX.2-pro",
            "api_endpoint": foundry.base_url,
            "cost_per_image_aud": "0.0600",
            "priority": 1,
            "config": {"max_retries": 0, "configuration": {"safety_tolerance": 2}, "credential": CREDENTIAL},
        },
        headers=bearer_for(tokens, super_admin),
    )
    assert created.status_code == 201, created.text

    done = await _generate(
        client,
        world,
        await gw.worker(app, db, http),
        model="azure-foundry/FLUX.2-pro",
        size="1216x832",
        seed=42,
        n=2,
    )

    assert len(foundry.requests) == 2  # FLUX makes one image per call
    for sent in foundry.requests:
        assert (sent.path, sent.query) == (
            "/providers/blackforestlabs/v1/flux-2-pro",
            {"api-version": "preview"},
        )
        assert sent.headers["authorization"] == f"Bearer {STUB_KEY}"
        assert sent.json == {
            "model": "FLUX.2-pro",
            "prompt": PROMPT,
            "width": 1216,
            "height": 832,
            "seed": 42,
            "output_format": "png",
            "safety_tolerance": 2,
        }
    assert (done["status"], done["model"], done["size"]) == (
        "completed",
        "azure-foundry/FLUX.2-pro",
        "1216x832",
    )
    assert (done["cost_aud"], done["charge_basis"]) == ("0.1200", "per-image")
    stored = [Image.open(BytesIO((await gw.fetch(client, url)).content)) for url in done["image_urls"]]
    assert [image.size for image in stored] == [(1216, 832), (1216, 832)]
    seeded = tuple(hashlib.sha256(b"42").digest()[:3])  # the stub paints the seed's colour
    assert all(image.convert("RGB").getpixel((0, 0)) == seeded for image in stored)
    [charge] = await gw.charges(db, world.department)
    assert charge.actual_cost_aud == Decimal("0.1200")
    assert await gw.spent(db, world.department) == (Decimal("0.1200"), Decimal(0))


async def test_a_size_outside_flux_bounds_or_not_in_sixteens_is_refused_with_a_clear_problem(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner, foundry: FluxFoundryStub
) -> None:
    world = await gw.world(db, tokens)
    no_taker = await client.post(  # only the local model, which lists its sizes: nobody takes this one
        "/v1/generations", json={"prompt": PROMPT, "size": "1216x832"}, headers=world.headers
    )
    flux = await _flux(db, foundry)
    name = f"azure-foundry/{flux.model_name}"

    too_big = await client.post(
        "/v1/generations", json={"prompt": PROMPT, "model": name, "size": "4096x2048"}, headers=world.headers
    )
    ragged = await client.post(
        "/v1/generations", json={"prompt": PROMPT, "model": name, "size": "1000x1000"}, headers=world.headers
    )
    fixed_only = await client.post(  # the local model lists its sizes: a free size is not one of them
        "/v1/generations",
        json={"prompt": PROMPT, "model": f"local/{world.local.model_name}", "size": "1216x832"},
        headers=world.headers,
    )

    assert no_taker.status_code == 422 and no_taker.json()["type"].endswith("/size-not-offered")
    assert too_big.status_code == 422 and too_big.headers["content-type"] == "application/problem+json"
    assert too_big.json()["type"].endswith("/unsupported-option")
    assert "any WIDTHxHEIGHT in multiples of 16 from 64 to 2048" in too_big.json()["detail"]
    assert ragged.status_code == 422 and "multiples of 16" in ragged.text
    assert fixed_only.status_code == 422 and fixed_only.json()["type"].endswith("/unsupported-option")
    assert foundry.requests == []


async def test_a_negative_prompt_is_refused_by_name_and_auto_chooses_a_model_that_takes_it(
    client: httpx.AsyncClient,
    db: AsyncSession,
    app: FastAPI,
    http: httpx.AsyncClient,
    tokens: TokenSigner,
    foundry: FluxFoundryStub,
) -> None:
    world = await gw.world(db, tokens)
    flux = await _flux(db, foundry)  # first in priority

    named = await client.post(
        "/v1/generations",
        json={"prompt": PROMPT, "negative_prompt": "text", "model": f"azure-foundry/{flux.model_name}"},
        headers=world.headers,
    )
    done = await _generate(client, world, await gw.worker(app, db, http), negative_prompt="text")

    assert named.status_code == 422 and named.json()["type"].endswith("/unsupported-option")
    assert "takes no negative prompt" in named.json()["detail"]
    assert done["status"] == "completed" and done["model"] == f"local/{world.local.model_name}"
    assert foundry.requests == []


async def test_a_prompt_flux_moderates_fails_once_without_fallback_and_costs_nothing(
    client: httpx.AsyncClient,
    db: AsyncSession,
    app: FastAPI,
    http: httpx.AsyncClient,
    tokens: TokenSigner,
    foundry: FluxFoundryStub,
) -> None:
    world = await gw.world(db, tokens)  # its local model is a cheaper fallback that is never tried
    flux = await _flux(db, foundry)
    foundry.reply(request_moderated("Sexual"))

    done = await _generate(
        client, world, await gw.worker(app, db, http), model=f"azure-foundry/{flux.model_name}"
    )

    assert len(foundry.requests) == 1
    assert (done["status"], done["fallback_from"]) == ("failed", None)
    assert done["content_filter"] == {"stage": "prompt", "categories": ["sexual"]}
    assert PROMPT not in done["error_message"]
    assert done["cost_aud"] == "0.0000" and await gw.charges(db, world.department) == []
    assert await gw.spent(db, world.department) == (Decimal(0), Decimal(0))


async def test_a_key_foundry_refuses_makes_the_flux_model_unavailable_with_a_reason(
    client: httpx.AsyncClient,
    db: AsyncSession,
    app: FastAPI,
    http: httpx.AsyncClient,
    tokens: TokenSigner,
    foundry: FluxFoundryStub,
    super_admin: User,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(KEY_VARIABLE, "a-rotated-away-foundry-key")
    world = await gw.world(db, tokens)
    flux = await _flux(db, foundry, name="FLUX.2-flex", configuration={"steps": 28, "guidance": 4.5})
    name = f"azure-foundry/{flux.model_name}"
    worker = await gw.worker(app, db, http)

    first = await _generate(client, world, worker)
    second = await _generate(client, world, worker)

    [sent] = foundry.requests  # tried once, never again
    assert sent.path.endswith("/flux-2-flex") and (sent.json["steps"], sent.json["guidance"]) == (28, 4.5)
    assert first["status"] == "completed" and first["fallback_from"] == name
    assert second["model"] == f"local/{world.local.model_name}"
    shown = (await client.get(f"/v1/providers/{flux.id}", headers=bearer_for(tokens, super_admin))).json()
    assert (shown["available"], shown["unavailable_reason"]) == (
        False,
        "the provider refused its credential (HTTP 401)",
    )
    assert "rotated-away" not in str(shown)
    refused = await client.post(
        "/v1/generations", json={"prompt": PROMPT, "model": name}, headers=world.headers
    )
    assert refused.status_code == 503 and "refused its credential" in refused.json()["detail"]


async def test_flux_kontext_answers_on_foundrys_images_route_without_a_seed(
    client: httpx.AsyncClient,
    db: AsyncSession,
    app: FastAPI,
    http: httpx.AsyncClient,
    tokens: TokenSigner,
    foundry: FluxFoundryStub,
) -> None:
    world = await gw.world(db, tokens)
    kontext = await _flux(db, foundry, name="FLUX.1-Kontext-pro", configuration={"family": "flux-kontext"})

    done = await _generate(
        client, world, await gw.worker(app, db, http), model=f"azure-foundry/{kontext.model_name}", seed=7
    )

    [sent] = foundry.requests
    assert sent.path == "/openai/deployments/FLUX.1-Kontext-pro/images/generations"
    assert sent.query == {"api-version": "preview"} and sent.headers["authorization"] == f"Bearer {STUB_KEY}"
    assert sent.json == {"prompt": PROMPT, "n": 1, "size": "1024x1024"}  # the route has no seed
    assert (done["status"], done["cost_aud"]) == ("completed", "0.0800")
    [url] = done["image_urls"]
    assert Image.open(BytesIO((await gw.fetch(client, url)).content)).size == (1024, 1024)


def _target(foundry: FluxFoundryStub, model: str = "FLUX.2-pro", **configuration: object) -> ProviderTarget:
    return ProviderTarget(
        provider="azure-foundry",
        model=model,
        endpoint=foundry.base_url,
        timeout_seconds=5,
        max_retries=0,
        configuration=dict(configuration),
        credential=ApiKeyHeader(STUB_KEY, kind="key-vault"),
    )


def _asking(size: str = "1024x1024", negative: str | None = None) -> ImageRequest:
    return ImageRequest(PROMPT, negative, size, "standard", None, 1, 5)


async def test_an_image_flux_moderates_after_making_it_is_an_output_refusal(
    http: httpx.AsyncClient, foundry: FluxFoundryStub
) -> None:
    foundry.reply(content_moderated("Violence"))

    with pytest.raises(ContentFiltered) as raised:
        await FluxFoundryProvider(http).generate(_target(foundry), _asking())

    assert (raised.value.stage, raised.value.categories, raised.value.is_nsfw) == (
        "output",
        ["violence"],
        True,
    )
    assert "generated image" in raised.value.reason


async def test_a_parameter_the_deployment_refuses_is_a_misconfiguration_named_by_the_vendors_422(
    http: httpx.AsyncClient, foundry: FluxFoundryStub
) -> None:
    with pytest.raises(ProviderMisconfigured) as raised:  # steps is FLUX.2-flex's, not pro's
        await FluxFoundryProvider(http).generate(_target(foundry, steps=20), _asking())

    assert raised.value.status_code == 422 and raised.value.reason == "steps: Extra inputs are not permitted"
    assert len(foundry.requests) == 1


async def test_what_flux_cannot_do_is_refused_before_any_call(
    http: httpx.AsyncClient, foundry: FluxFoundryStub
) -> None:
    provider = FluxFoundryProvider(http)
    for request in (_asking("2064x1024"), _asking("1000x1008"), _asking(negative="blur")):
        with pytest.raises(ProviderRejected):
            await provider.generate(_target(foundry), request)

    assert foundry.requests == []


async def test_a_keyless_flux_model_sends_the_managed_identitys_entra_token(
    client: httpx.AsyncClient,
    db: AsyncSession,
    app: FastAPI,
    http: httpx.AsyncClient,
    tokens: TokenSigner,
    settings: Settings,
    foundry: FluxFoundryStub,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = await gw.world(db, tokens)
    flux = await _flux(db, foundry, credential={"kind": "managed-identity"})
    async with token_endpoint.serving(monkeypatch) as identity:
        foundry.trust_tokens_of(identity.resource_of)  # the identity's role on the Foundry resource
        source = mc.credentials(settings)
        try:
            done = await _generate(
                client,
                world,
                await mc.worker(app, db, http, source),
                model=f"azure-foundry/{flux.model_name}",
            )
        finally:
            await source.aclose()

    [sent] = foundry.requests
    assert identity.resource_of(sent.headers["authorization"]) == "https://cognitiveservices.azure.com"
    assert done["status"] == "completed" and len(done["image_urls"]) == 1

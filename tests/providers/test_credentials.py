"""Model credentials end to end: the real azure-identity and azure-keyvault-secrets SDKs against a loopback
token endpoint and a loopback HTTPS vault, through the generation worker to the Azure OpenAI stub."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import trustme
from azure.core.pipeline.transport import AioHttpTransport
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.auth.tokens import TokenSigner
from donatello.config import Settings
from tests.support import generation_world as gw
from tests.support import key_vault, token_endpoint
from tests.support import model_credentials as mc
from tests.support.azure_openai_stub import AzureOpenAIStub
from tests.support.token_endpoint import TokenEndpoint

COGNITIVE_SERVICES = "https://cognitiveservices.azure.com"
KEYLESS = {"kind": "managed-identity"}


@pytest.fixture
async def identity(
    monkeypatch: pytest.MonkeyPatch, azure_stub: AzureOpenAIStub
) -> AsyncIterator[TokenEndpoint]:
    async with token_endpoint.serving(monkeypatch) as endpoint:
        azure_stub.trust_tokens_of(endpoint.issued)  # the resource's role assignment, as in Azure
        yield endpoint


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
async def vault(
    ca: trustme.CA, identity: TokenEndpoint
) -> AsyncIterator[tuple[key_vault.LoopbackVault, AioHttpTransport]]:
    async with key_vault.serving(ca, identity) as served:
        yield served


async def generate(client: httpx.AsyncClient, world: gw.World, model: str, worker: Any) -> dict[str, Any]:
    accepted = await client.post(
        "/v1/generations", json={"prompt": "a koala at the helpdesk", "model": model}, headers=world.headers
    )
    assert accepted.status_code == 202, accepted.text
    assert await worker.run_once()
    done = await client.get(f"/v1/generations/{accepted.json()['id']}", headers=world.headers)
    return done.json()


async def test_a_keyless_model_gets_one_managed_identity_token_and_sends_it_on_every_call(
    client: httpx.AsyncClient,
    db: AsyncSession,
    app: FastAPI,
    http: httpx.AsyncClient,
    tokens: TokenSigner,
    settings: Settings,
    azure_stub: AzureOpenAIStub,
    identity: TokenEndpoint,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    world = await gw.world(db, tokens)
    azure = await mc.azure_model(db, azure_stub, KEYLESS)
    source = mc.credentials(settings)
    worker = await mc.worker(app, db, http, source)
    try:
        done = [await generate(client, world, f"azure-openai/{azure.model_name}", worker) for _ in range(3)]
    finally:
        await source.aclose()

    assert [d["status"] for d in done] == ["completed"] * 3
    assert [d["model"] for d in done] == [f"azure-openai/{azure.model_name}"] * 3
    assert identity.asked_for(COGNITIVE_SERVICES) == 1  # one token for three generations
    sent = {request.headers.get("authorization") for request in azure_stub.requests}
    assert len(azure_stub.requests) == 3 and len(sent) == 1
    assert identity.resource_of(sent.pop()) == COGNITIVE_SERVICES
    assert all("api-key" not in request.headers for request in azure_stub.requests)
    logged = caplog.text + "".join(str(record.__dict__) for record in caplog.records)
    assert not any(token in logged for token in identity.issued)  # tokens never reach the logs


async def test_a_short_lived_token_is_reused_until_it_expires_then_fetched_again(
    client: httpx.AsyncClient,
    db: AsyncSession,
    app: FastAPI,
    http: httpx.AsyncClient,
    tokens: TokenSigner,
    settings: Settings,
    azure_stub: AzureOpenAIStub,
    identity: TokenEndpoint,
) -> None:
    world = await gw.world(db, tokens)
    azure = await mc.azure_model(db, azure_stub, KEYLESS)
    identity.lifetime_seconds = 3
    source = mc.credentials(settings)
    worker = await mc.worker(app, db, http, source)
    model = f"azure-openai/{azure.model_name}"
    try:
        await generate(client, world, model, worker)
        await generate(client, world, model, worker)
        assert identity.asked_for(COGNITIVE_SERVICES) == 1
        await asyncio.sleep(identity.until_expired())  # the token has expired (2 to 3 s after it came)
        last = await generate(client, world, model, worker)
    finally:
        await source.aclose()

    assert last["status"] == "completed"
    assert identity.asked_for(COGNITIVE_SERVICES) == 2
    first, second, third = (request.headers["authorization"] for request in azure_stub.requests)
    assert first == second != third
    assert identity.resource_of(third) == COGNITIVE_SERVICES


async def test_a_user_assigned_identity_asks_for_its_own_client_id_and_scope(
    settings: Settings, identity: TokenEndpoint
) -> None:
    source = mc.credentials(settings)
    client_id = "3c1f6a0e-6a4e-4c1e-9c55-2f0f3b0e9a11"
    try:
        credential = await source.resolve(
            {"kind": "managed-identity", "client_id": client_id, "scope": "https://ai.azure.com/.default"}
        )
        headers = await credential.headers()
    finally:
        await source.aclose()

    assert [(r.resource, r.client_id) for r in identity.requests] == [("https://ai.azure.com", client_id)]
    assert identity.issued[headers["Authorization"].removeprefix("Bearer ")] == (
        "https://ai.azure.com",
        client_id,
    )


async def test_a_key_vault_key_reaches_the_provider_and_a_rotated_key_after_the_cache_lifetime(
    client: httpx.AsyncClient,
    db: AsyncSession,
    app: FastAPI,
    http: httpx.AsyncClient,
    tokens: TokenSigner,
    settings: Settings,
    azure_stub: AzureOpenAIStub,
    identity: TokenEndpoint,
    vault: tuple[key_vault.LoopbackVault, AioHttpTransport],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    stub_vault, transport = vault
    stub_vault.set_secret("azure-openai-key", "key-one")
    azure_stub.accept_keys("key-one", "key-two")  # both of the resource's keys, as Azure keeps two
    world = await gw.world(db, tokens)
    azure = await mc.azure_model(
        db, azure_stub, {"kind": "key-vault", "secret": stub_vault.secret_url("azure-openai-key")}
    )
    clock = mc.Clock()
    source = mc.credentials(settings, vault=transport, clock=clock)
    worker = await mc.worker(app, db, http, source)
    model = f"azure-openai/{azure.model_name}"
    try:
        first = await generate(client, world, model, worker)
        stub_vault.set_secret("azure-openai-key", "key-two")  # rotated in Key Vault
        clock.now += mc.CACHE_SECONDS - 1
        second = await generate(client, world, model, worker)
        clock.now += 2  # the cached key's lifetime is over
        third = await generate(client, world, model, worker)
    finally:
        await source.aclose()

    assert [d["status"] for d in (first, second, third)] == ["completed"] * 3
    assert [request.headers.get("api-key") for request in azure_stub.requests] == [
        "key-one",
        "key-one",
        "key-two",
    ]
    assert all("authorization" not in request.headers for request in azure_stub.requests)
    assert len(stub_vault.served) == 2  # read once per lifetime
    assert stub_vault.challenged >= 1  # the SDK's challenge flow, answered with the app's vault token
    assert identity.asked_for("https://vault.azure.net") == 1 and identity.asked_for(COGNITIVE_SERVICES) == 0
    logged = caplog.text + "".join(str(record.__dict__) for record in caplog.records)
    assert "key-one" not in logged and "key-two" not in logged
    assert not any(token in logged for token in identity.issued)


async def test_an_environment_key_reaches_the_provider_as_api_key(
    client: httpx.AsyncClient,
    db: AsyncSession,
    app: FastAPI,
    http: httpx.AsyncClient,
    tokens: TokenSigner,
    settings: Settings,
    azure_stub: AzureOpenAIStub,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AOAI_EAST_KEY", "mounted-by-container-apps")
    azure_stub.accept_keys("mounted-by-container-apps")
    world = await gw.world(db, tokens)
    azure = await mc.azure_model(db, azure_stub, {"kind": "environment", "variable": "AOAI_EAST_KEY"})
    source = mc.credentials(settings)
    try:
        done = await generate(
            client, world, f"azure-openai/{azure.model_name}", await mc.worker(app, db, http, source)
        )
    finally:
        await source.aclose()

    assert done["status"] == "completed" and done["model"] == f"azure-openai/{azure.model_name}"
    [request] = azure_stub.requests
    assert request.headers["api-key"] == "mounted-by-container-apps"


async def test_many_jobs_starting_at_once_read_a_secret_once_and_fetch_a_token_once(
    settings: Settings,
    identity: TokenEndpoint,
    vault: tuple[key_vault.LoopbackVault, AioHttpTransport],
) -> None:
    stub_vault, transport = vault
    stub_vault.set_secret("azure-openai-key", "shared-key")
    keyed = {"kind": "key-vault", "secret": stub_vault.secret_url("azure-openai-key")}
    source = mc.credentials(settings, vault=transport)
    try:
        resolved = await asyncio.gather(*(source.resolve(c) for c in [keyed, KEYLESS] * 8))
        sent = [await credential.headers() for credential in resolved]
    finally:
        await source.aclose()

    assert {h.get("api-key") for h in sent[::2]} == {"shared-key"}
    assert len({h.get("Authorization") for h in sent[1::2]}) == 1
    assert len(stub_vault.served) == 1
    assert (identity.asked_for(COGNITIVE_SERVICES), identity.asked_for("https://vault.azure.net")) == (1, 1)

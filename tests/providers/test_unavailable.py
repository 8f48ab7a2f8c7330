"""A model that cannot run is made unavailable with a reason, visibly and persistently, and never called
again until an administrator changes it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import trustme
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from donatello.auth.tokens import TokenSigner
from donatello.config import Settings
from donatello.models import AuditOutbox, User, WebhookDelivery
from donatello.providers.credentials import ModelCredentials
from donatello.webhooks import fanout
from donatello.webhooks import service as webhooks
from donatello.webhooks.schemas import WebhookCreate
from tests.support import factories, key_vault, token_endpoint
from tests.support import generation_world as gw
from tests.support import model_credentials as mc
from tests.support.azure_openai_stub import AzureOpenAIStub
from tests.support.ledger import principal_of
from tests.support.signin import bearer_for

HOOK_HOST = "hooks.acme.example"


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
async def super_admin(db: AsyncSession) -> User:
    org = await factories.organization(db)
    return await factories.user(db, org, role="super_admin", department=await factories.department(db, org))


async def provider(
    client: httpx.AsyncClient, tokens: TokenSigner, admin: User, model_id: uuid.UUID
) -> dict[str, Any]:
    response = await client.get(f"/v1/providers/{model_id}", headers=bearer_for(tokens, admin))
    assert response.status_code == 200, response.text
    return response.json()


async def request(client: httpx.AsyncClient, world: gw.World, model: str) -> httpx.Response:
    return await client.post(
        "/v1/generations",
        json={"prompt": "a wombat reading the fine print", "model": model},
        headers=world.headers,
    )


async def generate(client: httpx.AsyncClient, world: gw.World, model: str, worker: Any) -> dict[str, Any]:
    accepted = await request(client, world, model)
    assert accepted.status_code == 202, accepted.text
    assert await worker.run_once()
    done = await client.get(f"/v1/generations/{accepted.json()['id']}", headers=world.headers)
    return done.json()


@pytest.fixture
async def unobtainable(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, ca: trustme.CA, settings: Settings
) -> AsyncIterator[tuple[dict[str, Any], ModelCredentials, str]]:
    """(credential, the worker's credentials, the words the reason must hold) for ``request.param``."""
    case = request.param
    if case == "environment variable not set":
        monkeypatch.delenv("AOAI_WEST_KEY", raising=False)
        source = mc.credentials(settings)
        yield {"kind": "environment", "variable": "AOAI_WEST_KEY"}, source, "AOAI_WEST_KEY"
        await source.aclose()
    elif case == "token endpoint down":
        token_endpoint.point_identity_at(
            monkeypatch, f"http://127.0.0.1:{token_endpoint.closed_port()}/msi/token", "header"
        )
        source = mc.credentials(settings)
        yield {"kind": "managed-identity"}, source, "got no token"
        await source.aclose()
    else:  # Key Vault refuses to read the secret (403)
        async with (
            token_endpoint.serving(monkeypatch) as identity,
            key_vault.serving(ca, identity) as (vault, transport),
        ):
            vault.set_secret("aoai-key", "never-sent")
            vault.refusing.add("aoai-key")
            source = mc.credentials(settings, vault=transport)
            yield {"kind": "key-vault", "secret": vault.secret_url("aoai-key")}, source, "HTTP 403"
            await source.aclose()


@pytest.mark.parametrize(
    "unobtainable",
    ["Key Vault refuses", "environment variable not set", "token endpoint down"],
    indirect=True,
)
async def test_a_credential_that_cannot_be_obtained_makes_the_model_unavailable_and_it_is_never_called(
    client: httpx.AsyncClient,
    db: AsyncSession,
    app: FastAPI,
    http: httpx.AsyncClient,
    tokens: TokenSigner,
    azure_stub: AzureOpenAIStub,
    super_admin: User,
    unobtainable: tuple[dict[str, Any], ModelCredentials, str],
) -> None:
    credential, source, words = unobtainable
    world = await gw.world(db, tokens)
    azure = await mc.azure_model(db, azure_stub, credential)
    name = f"azure-openai/{azure.model_name}"

    done = await generate(client, world, name, await mc.worker(app, db, http, source))

    assert azure_stub.requests == []  # no call without a credential
    assert done["status"] == "completed" and done["model"] == f"local/{world.local.model_name}"
    shown = await provider(client, tokens, super_admin, azure.id)
    assert shown["available"] is False
    assert shown["unavailable_reason"].startswith("its credential could not be obtained")
    assert words in shown["unavailable_reason"] and shown["unavailable_since"] is not None
    assert "never-sent" not in str(shown)
    refused = await request(client, world, name)
    assert refused.status_code == 503, refused.text
    assert refused.json()["type"].endswith("/model-cannot-run")
    assert words in refused.json()["detail"]


async def test_with_no_other_model_to_fall_back_to_the_generation_fails_with_the_reason_and_costs_nothing(
    client: httpx.AsyncClient,
    db: AsyncSession,
    app: FastAPI,
    http: httpx.AsyncClient,
    tokens: TokenSigner,
    settings: Settings,
    azure_stub: AzureOpenAIStub,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AOAI_CHEAP_KEY", raising=False)
    world = await gw.world(db, tokens)  # its local model costs more than this one: no fallback
    azure = await mc.azure_model(
        db, azure_stub, {"kind": "environment", "variable": "AOAI_CHEAP_KEY"}, price="0.0100"
    )
    source = mc.credentials(settings)
    try:
        done = await generate(
            client, world, f"azure-openai/{azure.model_name}", await mc.worker(app, db, http, source)
        )
    finally:
        await source.aclose()

    assert azure_stub.requests == []
    assert (done["status"], done["cost_aud"]) == ("failed", "0.0000")
    assert "AOAI_CHEAP_KEY" in done["error_message"] and "cannot run" in done["error_message"]


async def test_a_deployment_that_does_not_exist_is_unavailable_until_an_administrator_changes_it(
    client: httpx.AsyncClient,
    db: AsyncSession,
    app: FastAPI,
    http: httpx.AsyncClient,
    tokens: TokenSigner,
    settings: Settings,
    azure_stub: AzureOpenAIStub,
    super_admin: User,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AOAI_KEY", "a-key-that-must-stay-secret")
    azure_stub.accept_keys("a-key-that-must-stay-secret")
    world = await gw.world(db, tokens)
    azure = await mc.azure_model(db, azure_stub, {"kind": "environment", "variable": "AOAI_KEY"})
    name = f"azure-openai/{azure.model_name}"
    hook = await _webhook(app, db, world, ["provider.unavailable"])
    azure_stub.reply(mc.deployment_not_found())
    source = mc.credentials(settings)
    worker = await mc.worker(app, db, http, source)
    try:
        first = await generate(client, world, "auto", worker)  # platform priority picks the deployment
        second = await generate(client, world, "auto", worker)
    finally:
        await source.aclose()

    assert len(azure_stub.requests) == 1  # tried once, never again
    assert first["status"] == "completed" and first["fallback_from"] == name
    assert second["model"] == f"local/{world.local.model_name}" and second["fallback_from"] is None
    shown = await provider(client, tokens, super_admin, azure.id)
    assert shown["available"] is False
    assert shown["unavailable_reason"] == "the provider has no such deployment or model (HTTP 404)"
    assert "DeploymentNotFound" in shown["last_error"]
    refused = await request(client, world, name)
    assert refused.status_code == 503 and "no such deployment" in refused.json()["detail"]

    [event] = await _events(db, "provider.unavailable", azure.id)
    assert event.organization_id == world.org.id
    assert event.payload["metadata"]["status"] == 404
    assert event.payload["metadata"]["reason"] == shown["unavailable_reason"]
    assert "a-key-that-must-stay-secret" not in str(event.payload)
    await _fan_out(db)
    [delivery] = (
        await db.execute(select(WebhookDelivery).where(WebhookDelivery.webhook_id == hook))
    ).scalars()
    assert delivery.event_type == "provider.unavailable" and name.split("/")[1] in delivery.body

    fixed = await client.put(
        f"/v1/providers/{azure.id}/config",
        json={"max_retries": 0, "credential": {"kind": "environment", "variable": "AOAI_KEY"}},
        headers=bearer_for(tokens, super_admin),
    )
    assert fixed.status_code == 200, fixed.text
    again = await provider(client, tokens, super_admin, azure.id)
    assert (again["available"], again["unavailable_reason"], again["unavailable_since"]) == (True, None, None)
    assert (await request(client, world, name)).status_code == 202
    [configured] = await _events(db, "provider.configured", azure.id)
    assert (
        configured.payload["metadata"]["changes"]["unavailable_reason"]["from"] == shown["unavailable_reason"]
    )


async def test_a_patch_by_an_administrator_also_makes_the_model_available_again(
    client: httpx.AsyncClient,
    db: AsyncSession,
    tokens: TokenSigner,
    azure_stub: AzureOpenAIStub,
    super_admin: User,
) -> None:
    azure = await mc.azure_model(db, azure_stub, {"kind": "environment", "variable": "AOAI_KEY"})
    azure.unavailable_reason = "the provider refused its credential (HTTP 401)"
    azure.unavailable_since = azure.created_at
    await db.flush()
    assert (await provider(client, tokens, super_admin, azure.id))["available"] is False

    patched = await client.patch(
        f"/v1/providers/{azure.id}", json={"priority": 11}, headers=bearer_for(tokens, super_admin)
    )

    assert patched.status_code == 200, patched.text
    assert (patched.json()["available"], patched.json()["unavailable_reason"]) == (True, None)


async def _webhook(app: FastAPI, db: AsyncSession, world: gw.World, events: list[str]) -> uuid.UUID:
    """An org admin's webhook on a loopback receiver (registration resolves it; nothing is delivered)."""
    admin = await factories.user(db, world.org, role="org_admin", department=world.department)

    async def resolve(host: str, port: int) -> list[str]:
        assert host == HOOK_HOST
        return ["127.0.0.1"]

    outbound = webhooks.Outbound(
        settings=app.state.settings.model_copy(update={"webhooks_allow_private_targets": True}),
        sealer=app.state.sealer,
        resolver=resolve,
    )
    created = await webhooks.create(
        db,
        principal_of(admin),
        WebhookCreate(webhook_url=f"https://{HOOK_HOST}/donatello", event_types=events),
        outbound,
    )
    return created.id


async def _events(db: AsyncSession, event_type: str, resource_id: uuid.UUID) -> list[AuditOutbox]:
    rows = (await db.execute(select(AuditOutbox).where(AuditOutbox.event_type == event_type))).scalars()
    return [row for row in rows if row.payload["resource_id"] == str(resource_id)]


async def _fan_out(db: AsyncSession) -> None:
    sessions = async_sessionmaker(
        bind=await db.connection(), join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    while (await fanout.pass_once(sessions)).read:
        pass

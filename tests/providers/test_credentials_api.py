"""Administrators set a model's credential through the API; it is checked, stored, and never shown."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.auth.tokens import TokenSigner
from donatello.models import AuditOutbox, ProviderConfig, User
from tests.support import factories, provider_rows
from tests.support.signin import bearer_for

VAULT_SECRET = "https://acme-kv.vault.azure.net/secrets/azure-openai-key"


@pytest.fixture
async def team(db: AsyncSession) -> dict[str, User]:
    org = await factories.organization(db)
    dept = await factories.department(db, org)
    return {
        role: await factories.user(db, org, role=role, department=dept)
        for role in ("super_admin", "org_admin", "standard_user")
    }


async def configure(
    client: httpx.AsyncClient, tokens: TokenSigner, admin: User, model_id: uuid.UUID, credential: Any
) -> httpx.Response:
    return await client.put(
        f"/v1/providers/{model_id}/config",
        json={"max_retries": 2, "credential": credential},
        headers=bearer_for(tokens, admin),
    )


async def stored_credential(db: AsyncSession, model_id: uuid.UUID) -> Any:
    stmt = select(ProviderConfig.credential).where(ProviderConfig.provider_id == model_id)
    return (await db.execute(stmt.execution_options(populate_existing=True))).scalar_one()


@pytest.mark.parametrize(
    ("secret", "complaint"),
    [
        ("http://acme-kv.vault.azure.net/secrets/k", "https://"),
        ("https://acme-kv.evil.example/secrets/k", "vault.azure.net"),
        ("https://acme-kv.vault.azure.net.evil.example/secrets/k", "vault.azure.net"),
        ("https://a.vault.azure.net/secrets/k", "not a vault name"),
        ("https://acme-kv.vault.azure.net:8443/secrets/k", "port"),
        ("https://acme-kv.vault.azure.net/keys/k", "/secrets/<name>"),
        ("https://acme-kv.vault.azure.net/secrets/k/v/extra", "/secrets/<name>"),
        ("https://acme-kv.vault.azure.net/secrets/bad_name", "not a secret name"),
        ("https://acme-kv.vault.azure.net/secrets/k/not-a-version", "not a secret version"),
        ("https://acme-kv.vault.azure.net/secrets/k?x=1", "query"),
    ],
)
async def test_a_key_vault_secret_url_of_the_wrong_shape_is_refused_naming_what_is_wrong(
    client: httpx.AsyncClient,
    db: AsyncSession,
    tokens: TokenSigner,
    team: dict[str, User],
    secret: str,
    complaint: str,
) -> None:
    model = await provider_rows.model(db, "azure-openai")
    before = await stored_credential(db, model.id)

    response = await configure(
        client, tokens, team["super_admin"], model.id, {"kind": "key-vault", "secret": secret}
    )

    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert complaint in response.text
    assert await stored_credential(db, model.id) == before


@pytest.mark.parametrize(
    "secret",
    [
        VAULT_SECRET,
        f"{VAULT_SECRET}/0123456789abcdef0123456789abcdef",
        "https://contoso-cn.vault.azure.cn/secrets/aoai",
        "https://agency-kv.vault.usgovcloudapi.net/secrets/aoai",
    ],
)
async def test_key_vault_secrets_in_each_cloud_are_accepted_and_never_shown(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner, team: dict[str, User], secret: str
) -> None:
    model = await provider_rows.model(db, "azure-openai")

    response = await configure(
        client, tokens, team["super_admin"], model.id, {"kind": "key-vault", "secret": secret}
    )

    assert response.status_code == 200, response.text
    assert (response.json()["has_credential"], response.json()["credential_kind"]) == (True, "key-vault")
    assert await stored_credential(db, model.id) == {"kind": "key-vault", "secret": secret}
    for role in ("super_admin", "org_admin"):
        shown = await client.get(f"/v1/providers/{model.id}", headers=bearer_for(tokens, team[role]))
        assert shown.json()["config"]["credential_kind"] == "key-vault"
        assert "vault" not in shown.text.replace('"key-vault"', "")


async def test_a_keyless_model_is_stored_with_the_cognitive_services_scope_and_its_identity(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner, team: dict[str, User]
) -> None:
    model = await provider_rows.model(db, "azure-openai")
    client_id = "3c1f6a0e-6a4e-4c1e-9c55-2f0f3b0e9a11"

    system = await configure(client, tokens, team["super_admin"], model.id, {"kind": "managed-identity"})
    assert system.status_code == 200, system.text
    assert await stored_credential(db, model.id) == {
        "kind": "managed-identity",
        "scope": "https://cognitiveservices.azure.com/.default",
        "client_id": None,
    }
    user_assigned = await configure(
        client, tokens, team["super_admin"], model.id, {"kind": "managed-identity", "client_id": client_id}
    )
    assert user_assigned.json()["credential_kind"] == "managed-identity"
    assert (await stored_credential(db, model.id))["client_id"] == client_id
    bad_scope = await configure(
        client,
        tokens,
        team["super_admin"],
        model.id,
        {"kind": "managed-identity", "scope": "https://x.example"},
    )
    assert bad_scope.status_code == 422 and "/.default" in bad_scope.text
    events = (
        (await db.execute(select(AuditOutbox).where(AuditOutbox.event_type == "provider.configured")))
        .scalars()
        .all()
    )
    changes = [e.payload["metadata"]["changes"] for e in events if e.payload["resource_id"] == str(model.id)]
    assert changes[-1]["credential"] == {
        "from": "managed-identity",
        "to": "managed-identity",
    }  # another identity
    assert client_id not in str(changes)


@pytest.mark.parametrize(
    ("variable", "complaint"),
    [
        ("DONATELLO_COSMOS_KEY", "reserved"),
        ("donatello_entra_client_secret", "reserved"),
        ("IDENTITY_HEADER", "reserved"),
        ("AZURE_CLIENT_SECRET", "reserved"),
        ("1KEY", "letters, digits and underscores"),
        ("KEY-NAME", "letters, digits and underscores"),
        ("", "letters, digits and underscores"),
    ],
)
async def test_an_environment_variable_must_be_a_plain_name_outside_the_platform_s_own(
    client: httpx.AsyncClient,
    db: AsyncSession,
    tokens: TokenSigner,
    team: dict[str, User],
    variable: str,
    complaint: str,
) -> None:
    model = await provider_rows.model(db, "azure-openai")

    response = await configure(
        client, tokens, team["super_admin"], model.id, {"kind": "environment", "variable": variable}
    )

    assert response.status_code == 422, response.text
    assert complaint in response.text


@pytest.mark.parametrize(
    "credential",
    [
        {"kind": "password", "value": "hunter2"},
        {"kind": "environment", "variable": "AOAI_KEY", "value": "inline-secret"},
        "https://acme-kv.vault.azure.net/secrets/k",
        {"secret": VAULT_SECRET},
    ],
)
async def test_anything_but_the_three_kinds_is_refused(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner, team: dict[str, User], credential: Any
) -> None:
    model = await provider_rows.model(db, "azure-openai")

    response = await configure(client, tokens, team["super_admin"], model.id, credential)

    assert response.status_code == 422, response.text
    assert "inline-secret" not in response.text and "hunter2" not in response.text


async def test_a_model_is_created_with_its_credential_and_only_a_super_admin_sets_one(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner, team: dict[str, User]
) -> None:
    created = await client.post(
        "/v1/providers",
        json={
            "provider_name": "azure-openai",
            "model_name": f"gpt-image-{uuid.uuid4().hex[:6]}",
            "api_endpoint": "https://acme.openai.azure.com/openai/deployments/images",
            "cost_per_image_aud": "0.0600",
            "config": {"credential": {"kind": "environment", "variable": "AOAI_EAST_KEY"}},
        },
        headers=bearer_for(tokens, team["super_admin"]),
    )
    assert created.status_code == 201, created.text
    assert created.json()["config"]["credential_kind"] == "environment"
    assert "AOAI_EAST_KEY" not in created.text

    model_id = uuid.UUID(created.json()["id"])
    for role in ("org_admin", "standard_user"):
        refused = await configure(client, tokens, team[role], model_id, {"kind": "managed-identity"})
        assert refused.status_code == 403, refused.text  # models are the platform's: no permission
        assert refused.json()["required_permission"] == "providers:manage"
    assert await stored_credential(db, model_id) == {"kind": "environment", "variable": "AOAI_EAST_KEY"}


async def test_staff_see_that_a_model_is_unavailable_but_not_why(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner, team: dict[str, User]
) -> None:
    model = await provider_rows.model(db, "azure-openai")
    model.unavailable_reason = "its credential could not be obtained: Key Vault could not be reached"
    model.unavailable_since = model.created_at
    model.last_error = "ServiceRequestError: Cannot connect to host acme-kv.vault.azure.net:443"
    await db.flush()

    staff = (
        await client.get(f"/v1/providers/{model.id}", headers=bearer_for(tokens, team["standard_user"]))
    ).json()
    admin = (
        await client.get(f"/v1/providers/{model.id}", headers=bearer_for(tokens, team["org_admin"]))
    ).json()

    assert (staff["available"], staff["unavailable_reason"], staff["last_error"]) == (False, None, None)
    assert admin["available"] is False
    assert admin["unavailable_reason"] == model.unavailable_reason and admin["last_error"] == model.last_error
